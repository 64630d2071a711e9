package server_test

import (
	"net"
	"os"
	"testing"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
