package connect_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onec-connect/connect-bridge/connect"
)

// ExampleClient_Replay lists the dead letters of transport errors and
// replays each, giving the password the dead letter does not keep. It
// needs the admin's NATS user (the dead-letter stream is not the
// producers'), whose replies come under connect.reply.admin. Not run: it
// needs a deployment whose API failed (see dlq_test.go for the real
// thing).
func ExampleClient_Replay() {
	nc, err := nats.Connect("nats://connect-admin:…@nats:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	c, err := connect.New(nc, connect.WithReplyPrefix("connect.reply.admin"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	dls, err := c.DeadLetters(ctx, connect.DLQFilter{Code: "TRANSPORT_ERROR"})
	if err != nil {
		log.Fatal(err)
	}
	for _, dl := range dls {
		var opts []connect.ReplayOption
		if len(dl.Redacted) > 0 {
			opts = append(opts, connect.ReplayWithFields(map[string]any{"Password": passwordOf(dl.ID)}))
		}
		res, err := c.Replay(ctx, dl, opts...)
		var re *connect.ReplayError
		switch {
		case errors.Is(err, connect.ErrReplayNeedsForce):
			fmt.Println(dl.Seq, "check the service first:", err)
		case errors.As(err, &re):
			fmt.Println(dl.Seq, "not replayed:", re.Why)
		case err != nil:
			fmt.Println(dl.Seq, "replayed as", res.ID, "and failed again:", err)
		default:
			fmt.Println(dl.Seq, "replayed as", res.ID, res.Code)
			_ = c.DeleteDeadLetter(ctx, dl.Seq)
		}
	}
}

// passwordOf stands for where a service keeps what it sent.
func passwordOf(string) string { return "secret1" }
