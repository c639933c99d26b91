// Command run writes package ops from the operation catalogue; go
// generate runs it in connect/ops.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/onec-connect/connect-bridge/connect/internal/opsgen"
)

func main() {
	out := flag.String("o", "ops_gen.go", "file to write")
	flag.Parse()
	src, err := opsgen.Generate()
	if err == nil {
		err = os.WriteFile(*out, src, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
