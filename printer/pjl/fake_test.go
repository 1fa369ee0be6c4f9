package pjl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// transcript is the printer's side of one exchange (testdata/*.txt, see
// testdata/SOURCES.md).
type transcript struct {
	file  string
	name  string // the job name the host must use
	steps []step
}

type step struct {
	op  string // wait, send, pause, close, reset, hold
	arg string // wait: JOB or EOJ; send: the decoded bytes
	dur time.Duration
}

var tokens = strings.NewReplacer("<CR>", "\r", "<LF>", "\n", "<FF>", "\f", "<ESC>", "\x1b")

func loadTranscript(t testing.TB, file string) transcript {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := transcript{file: file}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		op, arg, _ := strings.Cut(line, " ")
		switch op {
		case "name":
			tr.name = arg
		case "wait":
			if arg != "JOB" && arg != "EOJ" {
				t.Fatalf("%s:%d: wait %q", file, n, arg)
			}
			tr.steps = append(tr.steps, step{op: op, arg: arg})
		case "send":
			tr.steps = append(tr.steps, step{op: op, arg: tokens.Replace(arg)})
		case "pause":
			d, err := time.ParseDuration(arg)
			if err != nil {
				t.Fatalf("%s:%d: %v", file, n, err)
			}
			tr.steps = append(tr.steps, step{op: op, dur: d})
		case "close", "reset", "hold":
			tr.steps = append(tr.steps, step{op: op})
		default:
			t.Fatalf("%s:%d: unknown directive %q", file, n, op)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return tr
}

// printerSide is every byte the transcript sends, in order.
func (tr transcript) printerSide() []byte {
	var b []byte
	for _, s := range tr.steps {
		if s.op == "send" {
			b = append(b, s.arg...)
		}
	}
	return b
}

// fakePrinter is a port-9100 server that plays a transcript to the one
// connection it accepts and records what the host sent.
type fakePrinter struct {
	t    testing.TB
	ln   net.Listener
	tr   transcript
	quit chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	got      bytes.Buffer  // the first maxRecorded bytes or so
	gotDone  chan struct{} // the host half-closed (or the connection ended)
	jobSeen  chan struct{}
	jobOnce  sync.Once
	scriptOK chan error
	played   chan struct{} // closed once the script has run to its end
}

const maxRecorded = 16 << 20

func startFake(t testing.TB, tr transcript) *fakePrinter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePrinter{
		t: t, ln: ln, tr: tr,
		quit:     make(chan struct{}),
		gotDone:  make(chan struct{}),
		jobSeen:  make(chan struct{}),
		scriptOK: make(chan error, 1),
		played:   make(chan struct{}),
	}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *fakePrinter) uri() string { return "socket://" + p.ln.Addr().String() }

func (p *fakePrinter) close() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	p.ln.Close()
	p.wg.Wait()
}

func (p *fakePrinter) serve() {
	defer p.wg.Done()
	conn, err := p.ln.Accept()
	if err != nil {
		close(p.played)
		p.scriptOK <- err
		return
	}
	defer conn.Close()
	p.wg.Add(1)
	go p.read(conn)
	err = p.play(conn)
	close(p.played)
	p.scriptOK <- err
}

func (p *fakePrinter) read(conn net.Conn) {
	defer p.wg.Done()
	defer close(p.gotDone)
	buf := make([]byte, 32<<10)
	for {
		n, err := conn.Read(buf)
		p.mu.Lock()
		if p.got.Len() < maxRecorded {
			p.got.Write(buf[:n])
		}
		seen := bytes.Contains(p.got.Bytes(), []byte("\r\n@PJL JOB NAME="))
		p.mu.Unlock()
		if seen {
			p.jobOnce.Do(func() { close(p.jobSeen) })
		}
		if err != nil {
			return
		}
	}
}

func (p *fakePrinter) play(conn net.Conn) error {
	for _, s := range p.tr.steps {
		switch s.op {
		case "wait":
			ch := p.jobSeen
			if s.arg == "EOJ" {
				ch = p.gotDone
			}
			select {
			case <-ch:
			case <-p.quit:
				return errors.New("test ended before " + s.arg)
			}
		case "send":
			if _, err := io.WriteString(conn, s.arg); err != nil {
				return err
			}
		case "pause":
			time.Sleep(s.dur)
		case "close":
			return conn.Close()
		case "reset":
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			return conn.Close()
		case "hold":
			<-p.quit
		}
	}
	return nil
}

// received waits for the host to finish sending and returns its bytes.
func (p *fakePrinter) received() []byte {
	p.t.Helper()
	select {
	case <-p.gotDone:
	case <-time.After(10 * time.Second):
		p.t.Fatal("the host never finished sending")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.got.Bytes())
}

// fakeCounter is a scripted CounterSource: Total answers totals in turn
// (the last one repeats), Idle is false for the first busyPolls calls.
type fakeCounter struct {
	mu        sync.Mutex
	totals    []uint64
	busyPolls int
	// busyUntil, when set, keeps the printer busy (Idle false) until it
	// is closed, then busyPolls more polls: a real printer is busy while
	// it still receives and prints the job, however slow the machine.
	busyUntil <-chan struct{}
	totalErr  error // every Total fails with it
	totalN    int
	idleN     int
}

func (f *fakeCounter) Total(ctx context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.totalErr != nil {
		return 0, f.totalErr
	}
	i := min(f.totalN, len(f.totals)-1)
	f.totalN++
	return f.totals[i], nil
}

func (f *fakeCounter) Idle(ctx context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busyUntil != nil {
		select {
		case <-f.busyUntil:
		default:
			return false, nil
		}
	}
	f.idleN++
	return f.idleN > f.busyPolls, nil
}

// failConn fails its writes once failAfter bytes went through.
type failConn struct {
	net.Conn
	failAfter int
	written   int
}

func (c *failConn) Write(p []byte) (int, error) {
	if c.written+len(p) <= c.failAfter {
		n, err := c.Conn.Write(p)
		c.written += n
		return n, err
	}
	n := c.failAfter - c.written
	if n > 0 {
		n, _ = c.Conn.Write(p[:n])
		c.written += n
	}
	return n, errors.New("write: broken pipe (test)")
}
