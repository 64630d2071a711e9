package server

// OpenConns is how many connections the listeners' connection watches
// still track: 0 once the server has seen every connection close.
func (s *Server) OpenConns() int {
	n := 0
	for _, cw := range s.watches {
		cw.conns.Range(func(any, any) bool { n++; return true })
	}
	return n
}
