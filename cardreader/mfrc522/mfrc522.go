package mfrc522

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/host/v3"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/cardreader/internal/reattach"

	"github.com/tessera-print/tessera/cardreader/internal/specopt"
)

// Scheme is the prefix of an MFRC522 reader's spec.
const Scheme = "mfrc522://"

// Defaults and bounds of a spec's options.
const (
	DefaultPoll  = 150 * time.Millisecond
	MinPoll      = 50 * time.Millisecond
	MaxPoll      = 2 * time.Second
	DefaultSpeed = physic.MegaHertz
	MaxSpeed     = 10 * physic.MegaHertz // the chip's SPI limit
)

// Config configures a Reader.
type Config struct {
	// Port is the SPI port as periph.io names it ("SPI0.0",
	// "/dev/spidev0.0"); empty: the first port.
	Port string
	// Reset is the GPIO wired to the chip's NRSTPD pin ("GPIO25"), or
	// empty when it is not wired (tied high).
	Reset string
	Poll  time.Duration    // time between two REQA polls
	Speed physic.Frequency // SPI clock
}

// ParseSpec parses "mfrc522://PORT[?rst=GPIO&poll=DURATION&hz=N]": PORT is
// the SPI port ("SPI0.0"; empty for the first one), rst the reset GPIO,
// poll the time between two polls (default 150ms, 50ms to 2s), hz the SPI
// clock (default 1000000, at most 10000000).
func ParseSpec(spec string) (Config, error) {
	cfg := Config{Poll: DefaultPoll, Speed: DefaultSpeed}
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("mfrc522: spec %q: %s", spec, fmt.Sprintf(format, args...))
	}
	rest, ok := strings.CutPrefix(spec, Scheme)
	if !ok {
		return bad("want %sSPI0.0?rst=GPIO25", Scheme)
	}
	port, query, _ := strings.Cut(rest, "?")
	if strings.ContainsAny(port, " \t") || strings.Contains(port, "//") {
		return bad("port %q is not an SPI port name", port)
	}
	cfg.Port = port
	opts, err := specopt.Parse(query)
	if err != nil {
		return bad("%v", err)
	}
	for k, v := range opts {
		switch k {
		case "rst":
			if v == "" || strings.ContainsAny(v, " \t/") {
				return bad("rst %q: want a GPIO name such as GPIO25", v)
			}
			cfg.Reset = v
		case "poll":
			d, err := time.ParseDuration(v)
			if err != nil || d < MinPoll || d > MaxPoll {
				return bad("poll %q: want a duration from %v to %v (100ms to 200ms is usual)", v, MinPoll, MaxPoll)
			}
			cfg.Poll = d
		case "hz":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 10_000 || physic.Frequency(n)*physic.Hertz > MaxSpeed {
				return bad("hz %q: want a clock from 10000 to 10000000", v)
			}
			cfg.Speed = physic.Frequency(n) * physic.Hertz
		default:
			return bad("unknown option %q (want rst, poll, hz)", k)
		}
	}
	return cfg, nil
}

// Reader is an MFRC522 card reader. Reads are the card's UID in upper-case
// hex, in the order the card sends it ("04A2247A1F3080").
type Reader struct {
	name   string
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
	open   func() (spi.PortCloser, error)
	pin    func() (gpio.PinOut, error)
	sleep  func(time.Duration)
	irq    struct {
		polls int
		wait  time.Duration
	}
	retry reattach.Loop
}

// Option changes a Reader made by New.
type Option func(*Reader)

// WithName names the reader (the default is the spec's form).
func WithName(name string) Option { return func(r *Reader) { r.name = name } }

// WithClock makes the reader stamp reads with now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(r *Reader) { r.now = now } }

// WithPort replaces the opening of the SPI port (for tests: spitest).
func WithPort(open func() (spi.PortCloser, error)) Option { return func(r *Reader) { r.open = open } }

// WithResetPin replaces the lookup of the reset GPIO (for tests:
// gpiotest).
func WithResetPin(pin gpio.PinOut) Option {
	return func(r *Reader) { r.pin = func() (gpio.PinOut, error) { return pin, nil } }
}

// WithSleep replaces time.Sleep for the chip's short waits (reset, the
// pauses between two reads of the interrupt register).
func WithSleep(sleep func(time.Duration)) Option { return func(r *Reader) { r.sleep = sleep } }

// WithRetry sets the wait between attempts to reattach.
func WithRetry(minWait, maxWait time.Duration) Option {
	return func(r *Reader) { r.retry.Min, r.retry.Max = minWait, maxWait }
}

// New returns a Reader for cfg. The port and pin are opened by Run, which
// reports the reader detached while they fail.
func New(cfg Config, logger *slog.Logger, opts ...Option) (*Reader, error) {
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Speed <= 0 {
		cfg.Speed = DefaultSpeed
	}
	if cfg.Speed > MaxSpeed {
		return nil, fmt.Errorf("mfrc522: SPI clock %v is above the chip's %v", cfg.Speed, MaxSpeed)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reader{cfg: cfg, logger: logger, now: time.Now, sleep: time.Sleep}
	r.irq.polls, r.irq.wait = 50, time.Millisecond // 50 ms > the chip's 25 ms timer
	r.open = func() (spi.PortCloser, error) {
		if _, err := host.Init(); err != nil {
			return nil, fmt.Errorf("periph host drivers: %w", err)
		}
		p, err := spireg.Open(cfg.Port)
		if err != nil {
			return nil, fmt.Errorf("SPI port %q: %w", cfg.Port, err)
		}
		return p, nil
	}
	r.pin = func() (gpio.PinOut, error) {
		if cfg.Reset == "" {
			return nil, nil
		}
		if _, err := host.Init(); err != nil {
			return nil, fmt.Errorf("periph host drivers: %w", err)
		}
		p := gpioreg.ByName(cfg.Reset)
		if p == nil {
			return nil, fmt.Errorf("reset pin: no GPIO named %q", cfg.Reset)
		}
		return p, nil
	}
	for _, o := range opts {
		o(r)
	}
	if r.name == "" {
		r.name = Scheme + cfg.Port
		if cfg.Reset != "" {
			r.name += "?rst=" + cfg.Reset
		}
	}
	r.retry.Name, r.retry.Logger = r.name, r.logger
	return r, nil
}

// Name implements cardreader.Reader.
func (r *Reader) Name() string { return r.name }

// Run implements cardreader.Reader.
func (r *Reader) Run(ctx context.Context, sink cardreader.Sink) error {
	return r.retry.Run(ctx, sink, func(ctx context.Context, attached func()) error {
		d, closePort, err := r.attach()
		if err != nil {
			return err
		}
		defer closePort()
		attached()
		return r.serve(ctx, d, sink)
	})
}

// attach opens the port, resets the chip and sets it up.
func (r *Reader) attach() (*chip, func(), error) {
	port, err := r.open()
	if err != nil {
		return nil, nil, err
	}
	closePort := func() { port.Close() }
	fail := func(err error) (*chip, func(), error) {
		closePort()
		return nil, nil, err
	}
	conn, err := port.Connect(r.cfg.Speed, spi.Mode0, 8)
	if err != nil {
		return fail(fmt.Errorf("SPI connect: %w", err))
	}
	pin, err := r.pin()
	if err != nil {
		return fail(err)
	}
	if pin != nil {
		// A hard reset (datasheet 8.8.1): NRSTPD low, then high; the
		// oscillator needs tens of microseconds, give it plenty.
		if err := pin.Out(gpio.Low); err != nil {
			return fail(fmt.Errorf("reset pin: %w", err))
		}
		r.sleep(time.Millisecond)
		if err := pin.Out(gpio.High); err != nil {
			return fail(fmt.Errorf("reset pin: %w", err))
		}
		r.sleep(50 * time.Millisecond)
	}
	d := &chip{c: conn, irqPolls: r.irq.polls, irqWait: r.irq.wait, sleep: r.sleep}
	version, err := d.init()
	if err != nil {
		return fail(err)
	}
	r.logger.Info("MFRC522 ready", "version", fmt.Sprintf("%#02x", version))
	return d, closePort, nil
}

// serve polls for cards until the chip fails (returning why) or ctx ends.
func (r *Reader) serve(ctx context.Context, d *chip, sink cardreader.Sink) error {
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		uid, err := d.poll()
		if err != nil {
			return err
		}
		if uid != nil {
			sink.Read(cardreader.Read{Value: strings.ToUpper(hex.EncodeToString(uid)), Reader: r.name, At: r.now()})
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

var _ cardreader.Reader = (*Reader)(nil)
