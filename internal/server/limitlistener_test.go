package server

import (
	"net"
	"testing"
	"time"
)

func TestLimitListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(raw, 1)
	defer ln.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for i := 0; i < 2; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	c1, _ := net.Dial("tcp", raw.Addr().String())
	defer c1.Close()
	c2, _ := net.Dial("tcp", raw.Addr().String())
	defer c2.Close()
	first := <-accepted
	select {
	case <-accepted:
		t.Fatal("second connection accepted while the first is open")
	case <-time.After(100 * time.Millisecond):
	}
	first.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("second connection not accepted after the first closed")
	}
}
