package connect_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
)

// ExampleClient_PutFile puts a file in the files bucket and attaches it
// to a service request by reference: the worker streams the object into
// the call, so a file larger than a NATS message travels too. OpenFile
// reads an object back, and AsFileRef recognizes one in a result.
func ExampleClient_PutFile() {
	nc, stop := feedSandbox()
	defer stop()
	c, err := connect.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	ref, err := c.PutFile(ctx, "report.txt", strings.NewReader("the logs of the day"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ref.Bucket, ref.Size, strings.HasPrefix(ref.Name, "uploads/"))

	add, err := c.Do(ctx, ops.ServiceRequestAdd{Summary: connect.Set("Logs attached")})
	if err != nil {
		log.Fatal(err)
	}
	var req struct{ ServiceRequestID string }
	if err := add.Decode(&req); err != nil {
		log.Fatal(err)
	}
	res, err := c.Do(ctx, connect.AttachFile(ops.ServiceRequestAttachFile{
		ServiceRequestID: req.ServiceRequestID,
		AuthorID:         "00000000-0000-4000-8000-000000000001",
		Name:             "report.txt",
		Hash:             "passed to the service as given",
	}, "Data", ref))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("attached:", res.Code)

	rc, err := c.OpenFile(ctx, ref)
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))

	// A result's data too large for a message holds a reference instead.
	data := map[string]any{"fileData": map[string]any{"$object": map[string]any{"bucket": "CONNECT_FILES", "name": "results/ServiceRequestDownloadFile/d-1/fileData"}}}
	if big, ok := connect.AsFileRef(data["fileData"]); ok {
		fmt.Println(big)
	}
	// Output:
	// CONNECT_FILES 19 true
	// attached: SUCCESS
	// the logs of the day
	// object "results/ServiceRequestDownloadFile/d-1/fileData" of bucket CONNECT_FILES
}
