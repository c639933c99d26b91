// Command onlysdk imports the SDK and nothing else of the module: its
// dependencies are what a service that uses the SDK brings into its build
// (TestDependencies lists them).
package main

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
)

func main() {
	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	c, err := connect.New(nc)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = c.Close() }()
	res, err := c.Do(context.Background(), ops.RegionRead{})
	fmt.Println(res.Code, err)
}
