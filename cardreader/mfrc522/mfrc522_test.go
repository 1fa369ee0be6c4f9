package mfrc522_test

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"

	"github.com/tessera-print/tessera/cardreader/fakereader"
	"github.com/tessera-print/tessera/cardreader/mfrc522"
)

// registers is MFRC522 datasheet table 20, for the recordings.
var registers = map[string]byte{
	"CommandReg": 0x01, "ComIEnReg": 0x02, "DivIEnReg": 0x03, "ComIrqReg": 0x04, "DivIrqReg": 0x05,
	"ErrorReg": 0x06, "Status1Reg": 0x07, "Status2Reg": 0x08, "FIFODataReg": 0x09, "FIFOLevelReg": 0x0A,
	"WaterLevelReg": 0x0B, "ControlReg": 0x0C, "BitFramingReg": 0x0D, "CollReg": 0x0E,
	"ModeReg": 0x11, "TxModeReg": 0x12, "RxModeReg": 0x13, "TxControlReg": 0x14, "TxASKReg": 0x15,
	"TxSelReg": 0x16, "RxSelReg": 0x17, "RxThresholdReg": 0x18, "DemodReg": 0x19,
	"ModWidthReg": 0x24, "RFCfgReg": 0x26, "TModeReg": 0x2A, "TPrescalerReg": 0x2B,
	"TReloadRegH": 0x2C, "TReloadRegL": 0x2D, "VersionReg": 0x37,
}

// loadRecording reads testdata/NAME (format in testdata/README.md) into
// one list of SPI transfers per opening of the port.
func loadRecording(t *testing.T, name string) [][]conntest.IO {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sections := [][]conntest.IO{nil}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line == "--- open" {
			sections = append(sections, nil)
			continue
		}
		fields := strings.Fields(line)
		times := 1
		if last := fields[len(fields)-1]; strings.HasPrefix(last, "x") {
			if times, err = strconv.Atoi(last[1:]); err != nil {
				t.Fatalf("%s:%d: %q", name, n, line)
			}
			fields = fields[:len(fields)-1]
		}
		reg, ok := registers[fields[1]]
		if len(fields) < 3 || !ok {
			t.Fatalf("%s:%d: %q", name, n, line)
		}
		data, err := hex.DecodeString(strings.Join(fields[2:], ""))
		if err != nil {
			t.Fatalf("%s:%d: %v", name, n, err)
		}
		var io conntest.IO
		switch fields[0] {
		case "w":
			io.W = append([]byte{reg << 1}, data...)
			io.R = make([]byte, len(io.W))
		case "r":
			for range data {
				io.W = append(io.W, 0x80|reg<<1)
			}
			io.W = append(io.W, 0)
			io.R = append([]byte{0}, data...)
		default:
			t.Fatalf("%s:%d: %q", name, n, line)
		}
		for range times {
			sections[len(sections)-1] = append(sections[len(sections)-1], io)
		}
	}
	return sections
}

// player hands out one spitest.Playback per opening of the port, then
// fails every further opening (the board stays unplugged).
type player struct {
	mu        sync.Mutex
	sections  [][]conntest.IO
	playbacks []*spitest.Playback
	speed     physic.Frequency
}

func (p *player) open() (spi.PortCloser, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.playbacks) == len(p.sections) {
		return nil, errors.New("no SPI port")
	}
	pb := &spitest.Playback{Playback: conntest.Playback{Ops: p.sections[len(p.playbacks)], DontPanic: true}}
	p.playbacks = append(p.playbacks, pb)
	return &speedCheck{Playback: pb, p: p}, nil
}

// speedCheck records the clock Connect is asked for.
type speedCheck struct {
	*spitest.Playback
	p *player
}

func (s *speedCheck) Connect(f physic.Frequency, mode spi.Mode, bits int) (spi.Conn, error) {
	s.p.mu.Lock()
	s.p.speed = f
	s.p.mu.Unlock()
	if mode != spi.Mode0 || bits != 8 {
		return nil, fmt.Errorf("SPI mode %v, %d bits; the MFRC522 wants mode 0, 8 bits", mode, bits)
	}
	return s.Playback.Connect(f, mode, bits)
}

// consumed checks that every recorded transfer was made.
func (p *player) consumed(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.playbacks) != len(p.sections) {
		t.Errorf("port opened %d times, want %d", len(p.playbacks), len(p.sections))
	}
	for i, pb := range p.playbacks {
		pb.Lock()
		if pb.Count != len(pb.Ops) {
			t.Errorf("section %d: %d of %d transfers made", i+1, pb.Count, len(pb.Ops))
		}
		pb.Unlock()
	}
}

func start(t *testing.T, name string, cfg mfrc522.Config, opts ...mfrc522.Option) (*fakereader.Sink, *player) {
	t.Helper()
	p := &player{sections: loadRecording(t, name)}
	opts = append([]mfrc522.Option{mfrc522.WithPort(p.open), mfrc522.WithSleep(func(time.Duration) {}),
		mfrc522.WithRetry(time.Millisecond, 2*time.Millisecond)}, opts...)
	r, err := mfrc522.New(cfg, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := fakereader.Start(t, r)
	return s, p
}

// fast polls without waiting, so a recording plays out at once.
var fast = mfrc522.Config{Poll: time.Millisecond}

func TestUIDs(t *testing.T) {
	for _, tt := range []struct{ file, uid string }{
		{"card4.txt", "9E5B2C41"},
		{"card7.txt", "04A2247A1F3080"},
		{"card10.txt", "0421436587A9CBED0F12"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			s, p := start(t, tt.file, fast)
			s.NextEvent(t, true)
			if got := s.NextRead(t).Value; got != tt.uid {
				t.Errorf("UID %s, want %s", got, tt.uid)
			}
			// The recording ends: the chip is silent, the reader gone.
			if e := s.NextEvent(t, false); e.Err == nil || !strings.Contains(e.Err.Error(), "MFRC522") {
				t.Errorf("detach reason %v", e.Err)
			}
			s.NoRead(t)
			p.consumed(t)
		})
	}
}

func TestReattach(t *testing.T) {
	s, p := start(t, "reattach.txt", fast)
	s.NextEvent(t, true)
	if e := s.NextEvent(t, false); e.Err == nil || !strings.Contains(e.Err.Error(), "not answering") {
		t.Errorf("detach reason %v", e.Err)
	}
	// The failed attempt (VersionReg 00) is no event; the next attaches.
	s.NextEvent(t, true)
	if got := s.NextRead(t).Value; got != "9E5B2C41" {
		t.Errorf("UID %s after reattaching", got)
	}
	s.NextEvent(t, false)
	p.consumed(t)
}

func TestCollisionAndGarbled(t *testing.T) {
	s, p := start(t, "collision.txt", fast)
	s.NextEvent(t, true)
	if got := s.NextRead(t).Value; got != "9E5B2C41" {
		t.Errorf("UID %s", got)
	}
	s.NextEvent(t, false)
	s.NoRead(t) // neither the collision nor the bad BCC gave a read
	p.consumed(t)
}

// pin is a reset GPIO that remembers its levels.
type pin struct {
	mu     sync.Mutex
	levels []gpio.Level
}

func (p *pin) String() string   { return "GPIO25" }
func (p *pin) Halt() error      { return nil }
func (p *pin) Name() string     { return "GPIO25" }
func (p *pin) Number() int      { return 25 }
func (p *pin) Function() string { return "Out" }
func (p *pin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.levels = append(p.levels, l)
	return nil
}
func (p *pin) PWM(gpio.Duty, physic.Frequency) error { return errors.New("no PWM") }

func TestResetPin(t *testing.T) {
	pin := &pin{}
	var mu sync.Mutex
	var sleeps []time.Duration
	sleep := func(d time.Duration) {
		mu.Lock()
		sleeps = append(sleeps, d)
		mu.Unlock()
	}
	cfg := mfrc522.Config{Poll: time.Millisecond, Reset: "GPIO25", Speed: 2 * physic.MegaHertz}
	s, p := start(t, "card4.txt", cfg, mfrc522.WithResetPin(pin), mfrc522.WithSleep(sleep))
	s.NextEvent(t, true)
	s.NextRead(t)
	s.NextEvent(t, false)
	pin.mu.Lock()
	levels := fmt.Sprint(pin.levels)
	pin.mu.Unlock()
	if levels != fmt.Sprint([]gpio.Level{gpio.Low, gpio.High}) {
		t.Errorf("reset pin levels %s, want Low then High", levels)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sleeps) < 2 || sleeps[1] < 10*time.Millisecond {
		t.Errorf("sleeps %v: want a wait after the reset", sleeps)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.speed != 2*physic.MegaHertz {
		t.Errorf("SPI clock %v, want 2MHz", p.speed)
	}
}

func TestNoPort(t *testing.T) {
	s, _ := start(t, "card4.txt", fast, mfrc522.WithPort(func() (spi.PortCloser, error) {
		return nil, errors.New("no SPI port named SPI3.0")
	}))
	if e := s.NextEvent(t, false); e.Err == nil || !strings.Contains(e.Err.Error(), "SPI3.0") {
		t.Errorf("event %+v", e)
	}
}

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec    string
		want    mfrc522.Config
		wantErr string
	}{
		{spec: "mfrc522://SPI0.0?rst=GPIO25", want: mfrc522.Config{Port: "SPI0.0", Reset: "GPIO25", Poll: 150 * time.Millisecond, Speed: physic.MegaHertz}},
		{spec: "mfrc522://SPI?rst=GPIO25", want: mfrc522.Config{Port: "SPI", Reset: "GPIO25", Poll: 150 * time.Millisecond, Speed: physic.MegaHertz}},
		{spec: "mfrc522://", want: mfrc522.Config{Poll: 150 * time.Millisecond, Speed: physic.MegaHertz}},
		{spec: "mfrc522:///dev/spidev0.1?poll=100ms&hz=4000000", want: mfrc522.Config{Port: "/dev/spidev0.1", Poll: 100 * time.Millisecond, Speed: 4 * physic.MegaHertz}},
		{spec: "mfrc522://SPI1.0?poll=200ms", want: mfrc522.Config{Port: "SPI1.0", Poll: 200 * time.Millisecond, Speed: physic.MegaHertz}},
		{spec: "mfrc522://SPI0.0?poll=10ms", wantErr: "poll"},
		{spec: "mfrc522://SPI0.0?poll=5s", wantErr: "poll"},
		{spec: "mfrc522://SPI0.0?poll=often", wantErr: "poll"},
		{spec: "mfrc522://SPI0.0?hz=20000000", wantErr: "hz"},
		{spec: "mfrc522://SPI0.0?hz=1", wantErr: "hz"},
		{spec: "mfrc522://SPI0.0?rst=", wantErr: "rst"},
		{spec: "mfrc522://SPI0.0?irq=GPIO24", wantErr: "unknown option"},
		{spec: "mfrc522://SPI0.0?rst=GPIO1&rst=GPIO2", wantErr: "2 times"},
		{spec: "mfrc522://SPI 0", wantErr: "not an SPI port"},
		{spec: "mfrc522:SPI0.0", wantErr: "want mfrc522://"},
		{spec: "mfrc522://SPI0.0?%zz", wantErr: "options"},
	}
	for _, tt := range tests {
		got, err := mfrc522.ParseSpec(tt.spec)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseSpec(%q) = %+v, %v; want an error with %q", tt.spec, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", tt.spec, got, err, tt.want)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"mfrc522://SPI0.0?rst=GPIO25&poll=150ms&hz=1000000", "mfrc522://", "mfrc522://?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		cfg, err := mfrc522.ParseSpec(spec)
		if err != nil {
			return
		}
		if _, err := mfrc522.New(cfg, nil); err != nil {
			t.Errorf("ParseSpec(%q) succeeded but New failed: %v", spec, err)
		}
	})
}
