package pjl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// document is a deterministic document bigger than one copy buffer, with
// bytes a careless framing would trip on: form feeds, "@PJL", a UEL.
func document(size int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	copy(b[1000:], "\f@PJL USTATUS JOB\r\nEND\r\nPAGES=999\r\n\f")
	copy(b[5000:], "\x1b%-12345X")
	return b
}

// wantHeader is the PJL the host must send before the document for a job
// with default settings, written out here rather than built by the code
// under test.
func wantHeader(name string) string {
	return "\x1b%-12345X@PJL\r\n" +
		"@PJL USTATUS DEVICE=ON\r\n" +
		"@PJL USTATUS JOB=ON\r\n" +
		"@PJL JOB NAME=\"" + name + "\"\r\n" +
		"@PJL SET USERNAME=\"alice\"\r\n" +
		"@PJL SET COPIES=1\r\n" +
		"@PJL SET DUPLEX=OFF\r\n" +
		"@PJL SET RENDERMODE=GRAYSCALE\r\n" +
		"@PJL ENTER LANGUAGE=PDF\r\n"
}

func wantTrailer(name string) string {
	return "\x1b%-12345X@PJL\r\n@PJL EOJ NAME=\"" + name + "\"\r\n\x1b%-12345X"
}

func testJob(name string, doc []byte) Job {
	return Job{Name: name, User: "alice", Size: int64(len(doc)), Body: bytes.NewReader(doc), Language: "pdf", MaxPages: 3}
}

func TestPrintTranscripts(t *testing.T) {
	doc := document(300 << 10)
	tests := []struct {
		file       string
		counter    *fakeCounter
		jobTimeout time.Duration
		want       Result
		wantDevice []int // codes of Result.Device
		uncertain  bool
		deviceErr  int // code of the DeviceError in the error, 0: none
		// busyTillPlayed: the counter says busy until the fake printer's
		// script has run to its end (its END sent, or its reset done).
		busyTillPlayed bool
	}{
		{file: "hp-7-37-job-status.txt", want: Result{Pages: 3, Source: "ustatus", Result: "OK"}},
		{file: "hp-5-13-job-id.txt", want: Result{Pages: 123, Source: "ustatus", Result: "OK"}, wantDevice: []int{10006}},
		{file: "hp-5-16-canceled.txt", want: Result{Pages: 123, Source: "ustatus", Result: "USER_CANCELED"}},
		{file: "brother-job-88554.txt", want: Result{Pages: 5, Source: "ustatus", Result: "OK"}},
		// A jam: charged the 2 pages the printer says reached the bin.
		{file: "jam-42203.txt", want: Result{Pages: 2, Source: "ustatus", Result: "OK"}, wantDevice: []int{42203, 10001}},
		// USTATUS wins over a counter that moved by other means.
		{file: "hp-7-37-job-status.txt", counter: &fakeCounter{totals: []uint64{1000, 1050}, busyPolls: 5}, busyTillPlayed: true,
			want: Result{Pages: 3, Source: "ustatus", Result: "OK"}},
		{file: "hp-7-35-printer-open.txt", jobTimeout: 300 * time.Millisecond,
			uncertain: true, wantDevice: []int{40021}, deviceErr: 40021},
		// The silent printer, counted: 1000 → 1003 once idle.
		{file: "silent-hold.txt", counter: &fakeCounter{totals: []uint64{1000, 1000, 1001, 1002, 1003}, busyPolls: 3},
			want: Result{Pages: 3, Source: "counter", CounterBefore: 1000, CounterAfter: 1003}},
		{file: "silent-close.txt", counter: &fakeCounter{totals: []uint64{1000, 1002, 1003}, busyPolls: 2},
			want: Result{Pages: 3, Source: "counter", CounterBefore: 1000, CounterAfter: 1003}},
		// Counter32 wrap: 4294967294 → 1 is 3 pages.
		{file: "silent-hold.txt", counter: &fakeCounter{totals: []uint64{4294967294, 4294967295, 0, 1}, busyPolls: 2},
			want: Result{Pages: 3, Source: "counter", CounterBefore: 4294967294, CounterAfter: 1}},
		// A drop (printer reset or replaced): recorded, not charged.
		{file: "silent-hold.txt", counter: &fakeCounter{totals: []uint64{1000, 500}, busyPolls: 1},
			want: Result{Source: "counter", Unreconciled: true, CounterBefore: 1000, CounterAfter: 500}},
		// More pages than the job can make (MaxPages 3): someone else printed.
		{file: "silent-hold.txt", counter: &fakeCounter{totals: []uint64{1000, 1040}, busyPolls: 1},
			want: Result{Source: "counter", Unreconciled: true, CounterBefore: 1000, CounterAfter: 1040}},
		// A printer that never moves its counter is believed only after minQuietPolls.
		{file: "silent-hold.txt", counter: &fakeCounter{totals: []uint64{1000}},
			want: Result{Source: "counter", CounterBefore: 1000, CounterAfter: 1000}},
		// Silent, and nothing to count with.
		{file: "silent-close.txt", uncertain: true},
		{file: "silent-hold.txt", jobTimeout: 300 * time.Millisecond, uncertain: true},
		{file: "silent-close.txt", counter: &fakeCounter{totalErr: errors.New("snmp timeout")}, uncertain: true},
		// The connection is reset after the data: uncertain, even with a
		// counter (busy long enough for the reset to come first; a counter
		// that settles before a reset is believed).
		{file: "cut-after-data.txt", uncertain: true},
		{file: "cut-after-data.txt", counter: &fakeCounter{totals: []uint64{1000, 1003}, busyPolls: 20}, busyTillPlayed: true, uncertain: true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tr := loadTranscript(t, tt.file)
			p := startFake(t, tr)
			opts := Options{Logger: quietLogger(), JobTimeout: tt.jobTimeout, IdlePoll: 5 * time.Millisecond}
			if tt.counter != nil {
				if tt.busyTillPlayed {
					tt.counter.busyUntil = p.played
				}
				opts.Counter = tt.counter
			}
			c, err := New(p.uri(), opts)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Print(context.Background(), testJob(tr.name, doc))

			if tt.uncertain {
				if !errors.Is(err, ErrUncertain) || !res.Uncertain {
					t.Fatalf("got %+v, %v; want uncertain", res, err)
				}
				var de *DeviceError
				switch {
				case tt.deviceErr != 0 && (!errors.As(err, &de) || de.Status.Code != tt.deviceErr):
					t.Errorf("error %v; want a DeviceError %d", err, tt.deviceErr)
				case tt.deviceErr == 0 && errors.As(err, &de):
					t.Errorf("error %v: unexpected DeviceError", err)
				}
			} else if err != nil {
				t.Fatalf("Print: %v", err)
			}
			var codes []int
			for _, d := range res.Device {
				codes = append(codes, d.Code)
			}
			if !equalInts(codes, tt.wantDevice) {
				t.Errorf("device codes %v, want %v", codes, tt.wantDevice)
			}
			if !tt.uncertain {
				res.Device = nil
				if !reflect.DeepEqual(res, tt.want) {
					t.Errorf("got %+v\nwant %+v", res, tt.want)
				}
			}

			got := p.received()
			want := wantHeader(tr.name) + string(doc) + wantTrailer(tr.name)
			if !bytes.Equal(got, []byte(want)) {
				t.Errorf("the printer received %d bytes, want %d; header %q; document identical %v; trailer %q",
					len(got), len(want), head(got, len(wantHeader(tr.name))),
					len(got) == len(want) && bytes.Equal(got[len(wantHeader(tr.name)):len(got)-len(wantTrailer(tr.name))], doc),
					tail(got, len(wantTrailer(tr.name))))
			}
		})
	}
}

func head(b []byte, n int) []byte { return b[:min(n, len(b))] }
func tail(b []byte, n int) []byte { return b[max(0, len(b)-n):] }

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestJamDeviceStatus(t *testing.T) {
	tr := loadTranscript(t, "jam-42203.txt")
	p := startFake(t, tr)
	c, _ := New(p.uri(), Options{Logger: quietLogger()})
	res, err := c.Print(context.Background(), testJob(tr.name, []byte("%PDF-1.4 three pages")))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Device) != 2 {
		t.Fatalf("devices %v", res.Device)
	}
	jam, ready := res.Device[0], res.Device[1]
	if jam.Category() != "jam" || !jam.Blocking() || !jam.Offline {
		t.Errorf("42203: category %s blocking %v offline %v", jam.Category(), jam.Blocking(), jam.Offline)
	}
	if ready.Category() != "informational" || ready.Blocking() {
		t.Errorf("10001: category %s blocking %v", ready.Category(), ready.Blocking())
	}
}

func TestRefusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused

	c, _ := New("socket://"+addr, Options{Logger: quietLogger(), Counter: &fakeCounter{totals: []uint64{7}}})
	res, err := c.Print(context.Background(), testJob("JOB 1", []byte("data")))
	if err == nil || errors.Is(err, ErrUncertain) || !reflect.DeepEqual(res, Result{}) {
		t.Fatalf("got %+v, %v; want a plain error", res, err)
	}
}

// The link breaks while sending: before any document byte it is a plain
// error (retry is safe); after some, the job is uncertain.
func TestConnectionLostWhileSending(t *testing.T) {
	doc := document(200 << 10)
	headerLen := len(wantHeader("JOB 14993"))
	tests := []struct {
		name      string
		failAfter int
		uncertain bool
	}{
		{"during the header", 10, false},
		{"after the header, before the document", headerLen, false},
		{"after some of the document", headerLen + 70000, true},
		{"during the trailer", headerLen + len(doc) + 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startFake(t, loadTranscript(t, "silent-hold.txt"))
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				var d net.Dialer
				conn, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &failConn{Conn: conn, failAfter: tt.failAfter}, nil
			}
			c, _ := New(p.uri(), Options{Logger: quietLogger(), Dial: dial})
			res, err := c.Print(context.Background(), testJob("JOB 14993", doc))
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrUncertain) != tt.uncertain || res.Uncertain != tt.uncertain {
				t.Errorf("got %+v, %v; want uncertain %v", res, err, tt.uncertain)
			}
		})
	}
}

// The printer ends the job (cancelled at the panel) and drops the
// connection while the document is still being sent: its END is
// believed.
func TestCanceledWhileSending(t *testing.T) {
	tr := loadTranscript(t, "hp-5-16-canceled-while-sending.txt")
	p := startFake(t, tr)
	c, _ := New(p.uri(), Options{Logger: quietLogger()})
	const size = 1 << 40 // far more than can be sent before the reset
	res, err := c.Print(context.Background(), Job{Name: tr.name, Size: size, Body: &patternReader{left: size}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pages != 123 || res.Result != "USER_CANCELED" || res.Source != "ustatus" || res.Uncertain {
		t.Errorf("got %+v", res)
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	tr := loadTranscript(t, "hp-7-35-printer-open.txt")
	p := startFake(t, tr)
	c, _ := New(p.uri(), Options{Logger: quietLogger()})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := c.Print(ctx, testJob(tr.name, []byte("data")))
	if !errors.Is(err, ErrUncertain) || !res.Uncertain || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %+v, %v", res, err)
	}
}

// A printer that stops reading (no paper) blocks the write; ctx ends it.
func TestCancelWhileSending(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hold := make(chan struct{})
	defer close(hold)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		<-hold // never reads
	}()
	c, _ := New("socket://"+ln.Addr().String(), Options{Logger: quietLogger()})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	const size = 256 << 20
	res, err := c.Print(ctx, Job{Name: "JOB 1", Size: size, Body: &patternReader{left: size}})
	if !errors.Is(err, ErrUncertain) || !res.Uncertain {
		t.Fatalf("got %+v, %v", res, err)
	}
}

func TestDocumentOfWrongSize(t *testing.T) {
	doc := document(200 << 10)
	tests := []struct {
		name      string
		size      int64
		uncertain bool // some of the document had left before the problem showed
	}{
		{"shorter", int64(len(doc)) + 10, true},
		{"longer", int64(len(doc)) - 10, true},
		{"longer, in one chunk", 100, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startFake(t, loadTranscript(t, "silent-hold.txt"))
			c, _ := New(p.uri(), Options{Logger: quietLogger()})
			j := testJob("JOB 14993", doc)
			j.Size = tt.size
			res, err := c.Print(context.Background(), j)
			if err == nil || errors.Is(err, ErrUncertain) != tt.uncertain || res.Uncertain != tt.uncertain {
				t.Fatalf("got %+v, %v", res, err)
			}
			got := p.received()
			if bytes.Contains(got, []byte("@PJL EOJ")) {
				t.Error("the trailer was sent for a document of the wrong size")
			}
			if n := int64(len(got) - len(wantHeader("JOB 14993"))); n >= tt.size {
				t.Errorf("%d document bytes reached the printer; the last ones must be held back", n)
			}
		})
	}
}

func TestHeaderSettings(t *testing.T) {
	tests := []struct {
		name string
		job  Job
		want []string // lines that must be there
		not  []string // lines that must not
	}{
		{"defaults", Job{Name: "t"}, []string{"@PJL SET COPIES=1\r\n", "@PJL SET DUPLEX=OFF\r\n", "@PJL SET RENDERMODE=GRAYSCALE\r\n"},
			[]string{"ENTER LANGUAGE", "USERNAME", "BINDING"}},
		{"duplex colour copies", Job{Name: "t", Copies: 3, Duplex: true, Color: true, Language: "postscript"},
			[]string{"@PJL SET COPIES=3\r\n", "@PJL SET DUPLEX=ON\r\n@PJL SET BINDING=LONGEDGE\r\n",
				"@PJL SET RENDERMODE=COLOR\r\n", "@PJL ENTER LANGUAGE=POSTSCRIPT\r\n"}, nil},
		{"user PJL cannot carry", Job{Name: "t", User: "DOMAIN\\j\"o\r\nhé"},
			[]string{"@PJL SET USERNAME=\"DOMAIN\\j_o__h__\"\r\n"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := tt.job
			j.Body, j.Size = strings.NewReader("x"), 1
			if err := checkJob(&j); err != nil {
				t.Fatal(err)
			}
			h := header(j)
			if !strings.HasPrefix(h, "\x1b%-12345X@PJL\r\n@PJL USTATUS DEVICE=ON\r\n@PJL USTATUS JOB=ON\r\n@PJL JOB NAME=\"t\"\r\n") {
				t.Errorf("header starts %q", h)
			}
			for _, w := range tt.want {
				if !strings.Contains(h, w) {
					t.Errorf("header lacks %q:\n%q", w, h)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(h, w) {
					t.Errorf("header has %q:\n%q", w, h)
				}
			}
		})
	}
}

func TestCheckJob(t *testing.T) {
	ok := Job{Name: "hub:42 3f9c", Size: 1, Body: strings.NewReader("x")}
	bad := []func(*Job){
		func(j *Job) { j.Name = "" },
		func(j *Job) { j.Name = strings.Repeat("n", 81) },
		func(j *Job) { j.Name = "a\"b" },
		func(j *Job) { j.Name = "a\nb" },
		func(j *Job) { j.Name = "é" },
		func(j *Job) { j.Size = 0 },
		func(j *Job) { j.Body = nil },
		func(j *Job) { j.Copies = 1000 },
		func(j *Job) { j.Language = "ESCP" },
	}
	j := ok
	if err := checkJob(&j); err != nil {
		t.Fatalf("valid job refused: %v", err)
	}
	for i, f := range bad {
		j := ok
		f(&j)
		if err := checkJob(&j); err == nil {
			t.Errorf("case %d: %+v accepted", i, j)
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		uri, addr string
	}{
		{"socket://printer.example", "printer.example:9100"},
		{"socket://10.0.0.5:9101", "10.0.0.5:9101"},
		{"socket://[fe80::1]", "[fe80::1]:9100"},
		{"socket://printer/", "printer:9100"},
		{"ipp://printer", ""},
		{"socket://", ""},
		{"socket://printer/queue", ""},
		{"socket://printer?x=1", ""},
		{"socket://u:p@printer", ""},
		{"printer:9100", ""},
	}
	for _, tt := range tests {
		c, err := New(tt.uri, Options{})
		switch {
		case tt.addr == "" && err == nil:
			t.Errorf("%s: accepted", tt.uri)
		case tt.addr != "" && err != nil:
			t.Errorf("%s: %v", tt.uri, err)
		case tt.addr != "" && c.addr != tt.addr:
			t.Errorf("%s: addr %s, want %s", tt.uri, c.addr, tt.addr)
		}
	}
}

// The printer may talk while the document is still being sent and must
// not be left blocked: here it floods the back channel during a large job.
func TestChattyPrinterDuringSend(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const name = "JOB 14993"
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		go func() {
			msg := "@PJL USTATUS DEVICE\r\nCODE=10006\r\nDISPLAY=\"16 TONER LOW\"\r\nONLINE=TRUE\r\n\f"
			junk := strings.Repeat("%%[ PrinterError: noise ]%%\r\n", 40)
			for i := 0; i < 2000; i++ {
				if _, err := io.WriteString(conn, junk+msg); err != nil {
					return
				}
			}
		}()
		io.Copy(io.Discard, conn)
		io.WriteString(conn, "@PJL USTATUS JOB\r\nEND\r\nNAME=\""+name+"\"\r\nPAGES=1\r\n\f")
	}()
	c, _ := New("socket://"+ln.Addr().String(), Options{Logger: quietLogger()})
	doc := document(8 << 20)
	res, err := c.Print(context.Background(), testJob(name, doc))
	if err != nil || res.Pages != 1 {
		t.Fatalf("got %+v, %v", res, err)
	}
	if len(res.Device) != maxDevices {
		t.Errorf("%d device reports kept, want the last %d", len(res.Device), maxDevices)
	}
}

// Another job's END on the channel is not ours.
func TestEndOfAnotherJobIgnored(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "@PJL USTATUS JOB\r\nEND\r\nNAME=\"previous\"\r\nPAGES=40\r\n\f")
		io.Copy(io.Discard, conn)
		io.WriteString(conn, "@PJL USTATUS JOB\r\nEND\r\nNAME=\"mine\"\r\nPAGES=2\r\nRESULT=OK\r\n\f")
	}()
	c, _ := New("socket://"+ln.Addr().String(), Options{Logger: quietLogger()})
	res, err := c.Print(context.Background(), testJob("mine", []byte("data")))
	if err != nil || res.Pages != 2 {
		t.Fatalf("got %+v, %v", res, err)
	}
}

// TestDamagedDocumentWithheld: a document whose source fails at its very
// end never reaches the printer whole: its last bytes and the trailer are
// held back (issue 8, point 5). Recorded printer: silent-hold.txt.
func TestDamagedDocumentWithheld(t *testing.T) {
	for _, tc := range []struct {
		name    string
		size    int
		atProbe bool
	}{
		{"error with the last bytes", 200 << 10, false},
		{"error on the read after them", 200 << 10, true},
		{"error with the only chunk", 8 << 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := document(tc.size)
			p := startFake(t, loadTranscript(t, "silent-hold.txt"))
			// A short JobTimeout: a printer given the whole job would
			// otherwise be waited for 10 minutes.
			c, _ := New(p.uri(), Options{Logger: quietLogger(), JobTimeout: time.Second})
			j := testJob("JOB 14993", doc)
			j.Body = &testutil.DamagedReader{Doc: doc, AtProbe: tc.atProbe}
			_, err := c.Print(context.Background(), j)
			if !errors.Is(err, testutil.ErrDamaged) {
				t.Fatalf("Print = %v, want the source's error", err)
			}
			got := p.received()
			if bytes.Contains(got, []byte("@PJL EOJ")) {
				t.Error("the trailer was sent after a damaged document")
			}
			if n := len(got) - len(wantHeader("JOB 14993")); n >= len(doc) {
				t.Errorf("%d document bytes reached the printer; the last ones must be held back", n)
			}
		})
	}
}
