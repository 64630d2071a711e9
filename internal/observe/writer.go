package observe

import (
	"bufio"
	"io"
	"os"
	"sync"
	"time"
)

// BufferedWriter batches log lines in memory (bounded by its size) and
// flushes them when the buffer fills or every interval, so a request never
// waits on a write syscall for its log line.
type BufferedWriter struct {
	mu     sync.Mutex
	buf    *bufio.Writer
	closer io.Closer
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	err    error
}

// OpenOutput opens "stdout", "stderr" or a file path (appended, 0600).
func OpenOutput(output string) (io.Writer, io.Closer, error) {
	switch output {
	case "stdout":
		return os.Stdout, nil, nil
	case "stderr":
		return os.Stderr, nil, nil
	}
	f, err := os.OpenFile(output, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return f, f, nil
}

// NewBufferedWriter wraps w; closer (may be nil) is closed by Close.
func NewBufferedWriter(w io.Writer, closer io.Closer, size int, interval time.Duration) *BufferedWriter {
	b := &BufferedWriter{
		buf:    bufio.NewWriterSize(w, size),
		closer: closer,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go b.flushLoop(interval)
	return b
}

// Write buffers p (one log line).
func (b *BufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	b.mu.Unlock()
	return n, err
}

// Flush writes buffered lines out.
func (b *BufferedWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Flush()
}

func (b *BufferedWriter) flushLoop(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			_ = b.Flush()
		}
	}
}

// Close flushes and closes the output. Nothing buffered is lost. Closing
// twice is harmless.
func (b *BufferedWriter) Close() error {
	b.once.Do(func() {
		close(b.stop)
		<-b.done
		b.err = b.Flush()
		if b.closer != nil {
			if cerr := b.closer.Close(); b.err == nil {
				b.err = cerr
			}
		}
	})
	return b.err
}
