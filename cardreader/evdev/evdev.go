package evdev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/cardreader/internal/lines"
	"github.com/tessera-print/tessera/cardreader/internal/reattach"

	"github.com/tessera-print/tessera/cardreader/internal/specopt"
)

// Scheme is the prefix of an evdev reader's spec.
const Scheme = "evdev:"

// DevDir is where Linux puts input devices.
const DevDir = "/dev/input"

// Selector says which input device is the reader: a path, or a name
// and/or a USB vendor:product id to look for among DevDir/event*.
type Selector struct {
	Path            string
	Name            string
	Vendor, Product uint16
	HasID           bool
}

// deviceInfo is what identifies an input device (read through ioctls on
// Linux; declared here so the selector's rule builds everywhere).
type deviceInfo struct {
	name            string
	vendor, product uint16
	typesDigits     bool // it has digit keys (main row or keypad)
}

func (s Selector) matches(info deviceInfo) bool {
	if s.Name != "" && info.name != s.Name {
		return false
	}
	if s.HasID && (info.vendor != s.Vendor || info.product != s.Product) {
		return false
	}
	// A USB reader often has a second interface (consumer keys, a mouse):
	// the reader is the one that types digits.
	return info.typesDigits
}

func (s Selector) String() string {
	if s.Path != "" {
		return s.Path
	}
	var parts []string
	if s.Name != "" {
		parts = append(parts, "name="+strconv.Quote(s.Name))
	}
	if s.HasID {
		parts = append(parts, fmt.Sprintf("id=%04x:%04x", s.Vendor, s.Product))
	}
	return strings.Join(parts, " ")
}

// Config configures a Reader.
type Config struct {
	Device  Selector
	Decoder DecoderConfig
}

// ParseSpec parses "evdev:///dev/input/by-id/...[?options]" or
// "evdev:?name=NAME|id=VVVV:PPPP[&options]". Options: keymap=us|fr|de
// (or qwerty|azerty|qwertz), prefix=S, suffix=S (URL-encoded), gap=DURATION
// (10ms to 5s).
func ParseSpec(spec string) (Config, error) {
	var cfg Config
	rest, ok := strings.CutPrefix(spec, Scheme)
	if !ok {
		return cfg, fmt.Errorf("evdev: spec %q: want %s///dev/input/by-id/DEVICE or %s?name=NAME", spec, Scheme, Scheme)
	}
	path, query, _ := strings.Cut(rest, "?")
	if path != "" {
		p, ok := strings.CutPrefix(path, "//")
		if !ok || !strings.HasPrefix(p, "/") {
			return cfg, fmt.Errorf("evdev: spec %q: the device path must be absolute (evdev:///dev/input/by-id/DEVICE)", spec)
		}
		cfg.Device.Path = p
	}
	opts, err := specopt.Parse(query)
	if err != nil {
		return cfg, fmt.Errorf("evdev: spec %q: %w", spec, err)
	}
	for k, v := range opts {
		switch k {
		case "name":
			if v == "" {
				return cfg, fmt.Errorf("evdev: spec %q: empty name", spec)
			}
			cfg.Device.Name = v
		case "id":
			vid, pid, err := parseID(v)
			if err != nil {
				return cfg, fmt.Errorf("evdev: spec %q: %w", spec, err)
			}
			cfg.Device.Vendor, cfg.Device.Product, cfg.Device.HasID = vid, pid, true
		case "keymap":
			km, err := KeymapByName(v)
			if err != nil {
				return cfg, fmt.Errorf("evdev: spec %q: %w", spec, err)
			}
			cfg.Decoder.Keymap = km
		case "prefix":
			cfg.Decoder.Prefix = v
		case "suffix":
			cfg.Decoder.Suffix = v
		case "gap":
			d, err := time.ParseDuration(v)
			if err != nil || d < 10*time.Millisecond || d > 5*time.Second {
				return cfg, fmt.Errorf("evdev: spec %q: gap %q: want a duration from 10ms to 5s", spec, v)
			}
			cfg.Decoder.Gap = d
		default:
			return cfg, fmt.Errorf("evdev: spec %q: unknown option %q (want name, id, keymap, prefix, suffix, gap)", spec, k)
		}
	}
	switch {
	case cfg.Device.Path != "" && (cfg.Device.Name != "" || cfg.Device.HasID):
		return cfg, fmt.Errorf("evdev: spec %q: give a device path or name=/id=, not both", spec)
	case cfg.Device.Path == "" && cfg.Device.Name == "" && !cfg.Device.HasID:
		return cfg, fmt.Errorf("evdev: spec %q: no device: want evdev:///dev/input/by-id/..., evdev:?name=NAME or evdev:?id=VVVV:PPPP", spec)
	}
	return cfg, nil
}

func parseID(s string) (vendor, product uint16, err error) {
	v, p, ok := strings.Cut(s, ":")
	if ok && len(v) == 4 && len(p) == 4 {
		vv, err1 := strconv.ParseUint(v, 16, 16)
		pp, err2 := strconv.ParseUint(p, 16, 16)
		if err1 == nil && err2 == nil {
			return uint16(vv), uint16(pp), nil
		}
	}
	return 0, 0, fmt.Errorf("id %q: want VVVV:PPPP, the USB vendor and product in hex", s)
}

// Reader is a keyboard-wedge card reader.
type Reader struct {
	name   string
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
	layout Layout
	open   func() (io.ReadCloser, error)
	retry  reattach.Loop
}

// Option changes a Reader made by New.
type Option func(*Reader)

// WithName names the reader (the default is the device selector).
func WithName(name string) Option { return func(r *Reader) { r.name = name } }

// WithClock makes the reader stamp reads with now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(r *Reader) { r.now = now } }

// WithDevice replaces the device: open is called for every attach and
// returns a stream of events in layout l; a failed Read is the device gone.
// For tests and for streams recorded elsewhere; no grab is done.
func WithDevice(open func() (io.ReadCloser, error), l Layout) Option {
	return func(r *Reader) { r.open, r.layout = open, l }
}

// WithRetry sets the wait between attempts to reattach (defaults: those of
// the reattach loop, 250 ms doubling up to 5 s).
func WithRetry(minWait, maxWait time.Duration) Option {
	return func(r *Reader) { r.retry.Min, r.retry.Max = minWait, maxWait }
}

// New returns a Reader for cfg. It does not open the device: a reader that
// is not plugged in yet is reported detached by Run and attached when it
// comes.
func New(cfg Config, logger *slog.Logger, opts ...Option) (*Reader, error) {
	if cfg.Device.Path == "" && cfg.Device.Name == "" && !cfg.Device.HasID {
		return nil, errors.New("evdev: no device selected")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reader{cfg: cfg, logger: logger, now: time.Now, layout: NativeLayout()}
	r.open = func() (io.ReadCloser, error) { return openDevice(DevDir, cfg.Device) }
	for _, o := range opts {
		o(r)
	}
	if r.name == "" {
		r.name = Scheme + cfg.Device.String()
	}
	r.retry.Name, r.retry.Logger = r.name, r.logger
	return r, nil
}

// Name implements cardreader.Reader.
func (r *Reader) Name() string { return r.name }

// Run implements cardreader.Reader.
func (r *Reader) Run(ctx context.Context, sink cardreader.Sink) error {
	return r.retry.Run(ctx, sink, func(ctx context.Context, attached func()) error {
		dev, err := r.open()
		if err != nil {
			return err
		}
		defer dev.Close()
		attached()
		return r.serve(ctx, dev, sink)
	})
}

// item is one event from the device, or the error that ended it.
type item struct {
	ev  Event
	err error
}

// serve decodes the device's events until it fails (returning why) or
// ctx ends (returning nil).
func (r *Reader) serve(ctx context.Context, dev io.ReadCloser, sink cardreader.Sink) error {
	items := make(chan item, 64)
	done := make(chan struct{})
	defer close(done)
	go func() {
		err := ReadEvents(dev, r.layout, func(ev Event) bool {
			select {
			case items <- item{ev: ev}:
				return true
			case <-done:
				return false
			}
		})
		if err == nil {
			return // stopped by done
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("device closed")
		}
		select {
		case items <- item{err: err}:
		case <-done:
		}
	}()
	// Closing the device ends the blocked Read when ctx ends.
	stop := context.AfterFunc(ctx, func() { dev.Close() })
	defer stop()

	dec := NewDecoder(r.cfg.Decoder)
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-quiet.C:
			if v, ok := dec.Flush(); ok {
				r.deliver(sink, v)
			}
		case it := <-items:
			if it.err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if dec.Pending() {
					r.logger.Warn("card read cut short: the device went away in the middle of it")
				}
				return it.err
			}
			if v, ok := dec.Feed(it.ev); ok {
				r.deliver(sink, v)
			}
			if dec.Pending() {
				quiet.Reset(dec.Gap())
			} else {
				quiet.Stop()
			}
		}
	}
}

// deliver hands a read to sink, or logs why it is refused. A refused read
// is logged masked: it may be a card number with a wrong character.
func (r *Reader) deliver(sink cardreader.Sink, v string) {
	reason := ""
	switch {
	case strings.ContainsRune(v, Unknown):
		reason = "keys the keymap has no character for (check keymap=)"
	case len(v) > lines.MaxLine:
		reason = lines.ReasonTooLong
	default:
		if c, ok := lines.Clean([]byte(v)); !ok {
			reason = "characters outside ASCII (check keymap=: a reader typing digits on an AZERTY map without Shift gives é, è, à...)"
		} else if v = c; v == "" {
			return
		}
	}
	if reason != "" {
		r.logger.Warn("read refused", "reason", reason,
			"read", strconv.QuoteToASCII(cardreader.Masked(v)))
		return
	}
	sink.Read(cardreader.Read{Value: v, Reader: r.name, At: r.now()})
}

var _ cardreader.Reader = (*Reader)(nil)
