package server_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2conn is a raw HTTP/2 client connection for protocol cases no client
// library sends: frames are written as given and read back one by one.
type h2conn struct {
	t    testing.TB
	conn *tls.Conn
	fr   *http2.Framer
	enc  *hpack.Encoder
	buf  bytes.Buffer
	dec  *hpack.Decoder
	next uint32 // the next stream id exchange uses
}

// dialH2 connects to addr with ALPN h2 and exchanges the preface and
// SETTINGS.
func dialH2(t testing.TB, addr string, pool *x509.CertPool) *h2conn {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := &h2conn{t: t, conn: conn, fr: http2.NewFramer(conn, conn)}
	c.enc = hpack.NewEncoder(&c.buf)
	c.dec = hpack.NewDecoder(4096, nil)
	c.fr.ReadMetaHeaders = c.dec
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

// headers encodes fields (name, value pairs, pseudo-headers first) into a
// header block.
func (c *h2conn) headers(fields ...string) []byte {
	c.buf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		_ = c.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return append([]byte(nil), c.buf.Bytes()...)
}

// request sends one HEADERS frame (no body) on stream id.
func (c *h2conn) request(id uint32, fields ...string) {
	c.t.Helper()
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.headers(fields...), EndStream: true, EndHeaders: true}); err != nil {
		c.t.Fatal(err)
	}
}

// ping sends a PING and reads frames until its ACK (the server has
// processed every frame sent before it) or the end of the connection;
// it reports whether the ACK came, and the GOAWAY code if one did.
func (c *h2conn) ping() (acked bool, goaway *http2.ErrCode) {
	c.t.Helper()
	data := [8]byte{'p', 'r', 'o', 'b', 'e'}
	if err := c.fr.WritePing(false, data); err != nil {
		return false, nil
	}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return false, goaway
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = c.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if f.IsAck() && f.Data == data {
				return true, goaway
			}
		case *http2.GoAwayFrame:
			code := f.ErrCode
			goaway = &code
		}
	}
}

// h2result is how the server ended a stream or the connection.
type h2result struct {
	status  int               // the :status of the response on the stream, 0 if none
	header  map[string]string // its other fields
	body    string
	rst     http2.ErrCode // RST_STREAM on the stream, if any
	goaway  bool
	code    http2.ErrCode // GOAWAY's code
	readErr error
}

// await reads frames until stream id ends (END_STREAM or RST_STREAM) or
// the connection does (GOAWAY or an error).
func (c *h2conn) await(id uint32) h2result {
	c.t.Helper()
	var res h2result
	var body bytes.Buffer
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			res.readErr = err
			res.body = body.String()
			return res
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = c.fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				continue
			}
			res.header = map[string]string{}
			for _, hf := range f.Fields {
				if hf.Name == ":status" {
					res.status, _ = strconv.Atoi(hf.Value)
					continue
				}
				res.header[hf.Name] = hf.Value
			}
			if f.StreamEnded() {
				return res
			}
		case *http2.DataFrame:
			if f.StreamID != id {
				continue
			}
			body.Write(f.Data())
			if n := uint32(len(f.Data())); n > 0 {
				// Keep the server's send window open for long bodies.
				_ = c.fr.WriteWindowUpdate(0, n)
				_ = c.fr.WriteWindowUpdate(id, n)
			}
			if f.StreamEnded() {
				res.body = body.String()
				return res
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				res.rst = f.ErrCode
				res.body = body.String()
				return res
			}
		case *http2.GoAwayFrame:
			res.goaway, res.code = true, f.ErrCode
			res.body = body.String()
			return res
		}
	}
}
