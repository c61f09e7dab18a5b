package bots

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// One client cannot hold a listener: connections past the cap wait
// unaccepted (no file handle), and connections that send nothing, or send
// their body a byte at a time, are closed by the server, after which a real
// request is served.
func TestLimitsHoldOffSlowClients(t *testing.T) {
	l := Limits{MaxConns: 4, ReadHeader: 200 * time.Millisecond, Read: 300 * time.Millisecond, Write: time.Second, Idle: 200 * time.Millisecond}
	ln, err := Listen("127.0.0.1:0", l)
	if err != nil {
		t.Fatal(err)
	}
	var open, peak atomic.Int64
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	}), slog.New(slog.NewTextHandler(io.Discard, nil)), l)
	// Connections are counted where the cap is: from the listener's Accept
	// to their Close, which gives the slot back. (http.Server's ConnState
	// reports a closed connection after its slot is free, so a new one can
	// show as the cap plus one.)
	go srv.Serve(countingListener{Listener: ln, open: &open, peak: &peak})
	defer srv.Close()
	addr := ln.Addr().String()

	// Twelve clients that connect and say nothing.
	var conns []net.Conn
	for range 12 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// One that sends its headers and then its body a byte at a time.
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"))
	var wg sync.WaitGroup
	closed := make(chan struct{})
	wg.Go(func() {
		defer close(closed)
		for {
			if _, err := slow.Write([]byte("a")); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	// A real request is served once the server has dropped the idle ones.
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("a real request was not served: %v", err)
	}
	resp.Body.Close()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Error("the connection sending its body a byte at a time was never closed")
		slow.Close()
	}
	wg.Wait()
	if p := peak.Load(); p > int64(l.MaxConns) {
		t.Errorf("%d connections were open at once, over the cap of %d", p, l.MaxConns)
	}
}

// countingListener counts the connections it has accepted and not yet
// closed, and the most at once.
type countingListener struct {
	net.Listener
	open, peak *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
	}
	return &countingConn{Conn: c, open: l.open}, nil
}

type countingConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

// Close counts the connection out before the listener's cap gets its slot
// back.
func (c *countingConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// Silent connections cannot keep a nearly full listener from real
// requests: once three quarters of its slots are taken, those that have
// said nothing for Quiet are closed, well before ReadHeader would close
// them. Without Quiet, 40 silent connections hold the 8 slots for the
// whole 30 s and the request below times out.
func TestQuietConnectionsGiveWayUnderPressure(t *testing.T) {
	l := Limits{MaxConns: 8, ReadHeader: 30 * time.Second, Read: 30 * time.Second, Write: 30 * time.Second, Idle: 30 * time.Second, Quiet: 200 * time.Millisecond}
	ln, err := Listen("127.0.0.1:0", l)
	if err != nil {
		t.Fatal(err)
	}
	slow := make(chan struct{})
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-slow
		}
		w.Write([]byte("ok"))
	}), slog.New(slog.NewTextHandler(io.Discard, nil)), l)
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	silent := func(n int) {
		for range n {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
	}
	silent(40)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("a real request behind 40 silent connections: %v", err)
	}
	resp.Body.Close()
	// A connection in the middle of a request is not quiet: a slow
	// handler's client keeps its connection while silent ones go.
	done := make(chan error, 1)
	go func() {
		resp, err := client.Get("http://" + addr + "/slow")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	time.Sleep(l.Quiet / 2)
	silent(40)
	time.Sleep(5 * l.Quiet)
	close(slow)
	if err := <-done; err != nil {
		t.Errorf("a request in progress was cut: %v", err)
	}
}
