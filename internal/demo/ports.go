package demo

import "net"

// FreeAddrs returns n loopback addresses whose ports are free right now,
// all different: the demo's processes listen on them, so that it never
// talks to another's sandbox or NATS on a shared machine.
func FreeAddrs(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close() // held open until all are chosen, so they differ
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}
