package worker_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// benchTrace, when set, records an execution trace of the measured part
// of BenchmarkWorkerThroughput only (no set-up, no shutdown), for
// `go tool trace -pprof=sync`: where the lane's goroutines wait.
var benchTrace = flag.String("benchtrace", "", "write an execution trace of the measured part of BenchmarkWorkerThroughput to this file")

// benchCPU, when set, records a CPU profile of the measured part of
// BenchmarkWorkerThroughput only: the broker, the worker, the sandbox and
// the producer, all in this process, without set-up and shutdown.
var benchCPU = flag.String("benchcpu", "", "write a CPU profile of the measured part of BenchmarkWorkerThroughput to this file")

// BenchmarkWorkerThroughput runs b.N ClientUserEdit commands for distinct
// users through a worker on an embedded JetStream server and the sandbox
// (no latency, limits off): published asynchronously, results gathered on
// the producer's reply subject. One op is one command, from its publish to
// its result; the embedded server and the sandbox run in this process, so
// a CPU profile shows all three. "tuned" are cmd/bench's line-2 settings.
// Profile the measured part only with
//
//	go test -run '^$' -bench WorkerThroughput/tuned -benchtime 60000x -o worker.test ./internal/worker -benchcpu=cpu.out
//	go test -run '^$' -bench WorkerThroughput/tuned -benchtime 60000x ./internal/worker -benchtrace=trace.out
//	go tool trace -pprof=sync trace.out > sync.pprof   # where goroutines wait
func BenchmarkWorkerThroughput(b *testing.B) {
	for _, c := range []struct {
		name string
		set  worker.OpSettings
	}{
		{"defaults", worker.OpSettings{}},
		{"tuned", worker.OpSettings{MaxPending: 4000, Concurrency: 4, MaxWait: worker.Duration(50 * time.Millisecond)}},
	} {
		b.Run(c.name, func(b *testing.B) { benchThroughput(b, c.set) })
	}
}

func benchThroughput(b *testing.B, set worker.OpSettings) {
	srv := natstest.Server(b)
	nc, _ := natstest.Connect(b, srv.ClientURL())
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	emu, err := emulator.New(emulator.Config{Limits: map[string]int{"*": 1_000_000_000}, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(emu)
	b.Cleanup(hs.Close)
	client, err := soap.New(soap.Config{URL: hs.URL + emulator.Path, User: "admin", Password: "admin"})
	if err != nil {
		b.Fatal(err)
	}
	lim, err := quota.NewLocal(quota.Config{
		Windows: quota.Windows{Length: time.Hour, Guard: -1},
		Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: map[string]int{"*": 1_000_000_000}, Reserve: -1},
	})
	if err != nil {
		b.Fatal(err)
	}
	wnc, _ := natstest.Connect(b, srv.ClientURL())
	w, err := worker.New(worker.Config{Conn: wnc, API: client, Limiter: lim, Operations: []string{"ClientUserEdit"}, Defaults: set})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	for w.Ready() != nil {
		time.Sleep(5 * time.Millisecond) // polling readiness; nothing to wait on
	}

	users := emu.SeedClientUsers(b.N)
	inbox := nats.NewInbox()
	msgs := make([]*nats.Msg, b.N)
	for i, u := range users {
		id := fmt.Sprint("c", i)
		data, _ := json.Marshal(map[string]any{"id": id, "fields": map[string]any{
			"ClientUserID": u, "Name": fmt.Sprint("Имя ", i), "Password": "secret1",
			"Phone": "+7 900 000-00-00", "EMail": fmt.Sprintf("user%d@example.com", i),
		}})
		m := nats.NewMsg(contract.CommandPrefix + "ClientUserEdit")
		m.Data = data
		m.Header.Set(contract.HeaderMsgID, id)
		m.Header.Set(contract.HeaderContentType, contract.ContentTypeJSON)
		m.Header.Set(contract.HeaderReplyTo, inbox)
		msgs[i] = m
	}
	var got atomic.Int64
	all := make(chan struct{})
	sub, err := nc.Subscribe(inbox, func(*nats.Msg) {
		if got.Add(1) == int64(b.N) {
			close(all)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	_ = sub.SetPendingLimits(-1, -1)

	if *benchCPU != "" && b.N > 1 {
		f, err := os.Create(*benchCPU)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *benchTrace != "" && b.N > 1 {
		f, err := os.Create(*benchTrace)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			b.Fatal(err)
		}
		defer trace.Stop()
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for _, m := range msgs {
		if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%d of %d results after 10m", got.Load(), b.N)
	}
	b.StopTimer()
	if *benchTrace != "" {
		trace.Stop()
	}
	if *benchCPU != "" {
		pprof.StopCPUProfile()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commands/s")
}
