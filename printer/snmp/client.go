package snmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tessera-print/tessera/printer/snmp/profile"
)

// Client reads one printer. Read and Check may run at the same time: each
// call has its own UDP socket, so a slow full read never delays the
// pre-release check.
type Client struct {
	s        Settings
	log      *slog.Logger
	profiles []*profile.Profile
	// device is the printer's hrDeviceIndex found by the last Read; Check
	// uses it (1 until then, which is what nearly every printer uses).
	device atomic.Int64
	// serialOIDs are the matched vendor profile's serial objects, found by
	// the last Read; Check asks them when the standard serial is empty.
	serialOIDs atomic.Pointer[[]string]
	// trace, when set (tests, the benchmark), sees every request.
	trace func(op string, oids []string)
}

// New checks the settings and loads the built-in vendor profiles. Zero
// timing fields take their defaults (Settings.FillDefaults).
func New(s Settings, logger *slog.Logger) (*Client, error) {
	s.FillDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ps, err := profile.Builtin()
	if err != nil {
		return nil, fmt.Errorf("snmp vendor profiles: %w", err)
	}
	c := &Client{s: s, log: logger.With("printer", s.Target), profiles: ps}
	c.device.Store(1)
	return c, nil
}

// Settings returns the settings in use (with their defaults filled in).
func (c *Client) Settings() Settings { return c.s }

// Read reads everything: identity, status, counters, supplies, trays,
// alerts and console, then what the matching vendor profile adds. It ends
// within the settings' deadline; a printer that does not answer gives an
// error matching ErrNoAnswer, which callers show as Unreachable().
func (c *Client) Read(ctx context.Context) (*Reading, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.s.Deadline)
	defer cancel()
	sess, closeSession, err := dial(ctx, c.s, c.log)
	if err != nil {
		return nil, err
	}
	defer closeSession()
	sess.trace = c.trace

	v := values{}
	if err := getAll(ctx, sess, scalarOIDs(), v); err != nil {
		return nil, fmt.Errorf("read printer %s: %w", c.s.Target, err)
	}
	w := newWalker(sess, c.s.Bulk && c.s.Version != "1", c.s.MaxRepetitions)
	problems, err := w.walk(ctx, columnOIDs(), v)
	if err != nil {
		return nil, fmt.Errorf("read printer %s: %w", c.s.Target, err)
	}
	r := decode(v)
	c.device.Store(r.device)
	for _, p := range problems {
		c.log.Warn("printer answered badly; part of the reading is missing", "err", p)
		r.Problems = append(r.Problems, p.Error())
	}

	if p := profile.Match(c.profiles, r.SysObjectID, r.SysDescr, r.DeviceDescr); p != nil {
		r.Vendor = p.Vendor
		oids := p.SerialOIDs()
		c.serialOIDs.Store(&oids)
		res, err := p.Read(ctx, &getter{r: sess, w: w})
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, fmt.Errorf("read printer %s: %s profile: %w", c.s.Target, p.Vendor, noAnswer(ctx, err))
		case err != nil:
			c.log.Warn("vendor profile failed; its counters are missing", "vendor", p.Vendor, "err", err)
			r.Problems = append(r.Problems, fmt.Sprintf("%s profile: %v", p.Vendor, err))
		}
		merge(r, res)
	}
	if r.Model == "" {
		r.Model = r.SysDescr
	}
	c.log.Debug("printer read", "state", r.Status.State, "took", time.Since(start))
	return r, nil
}

// merge adds a vendor profile's result: the standard objects first, the
// profile for what they lack.
func merge(r *Reading, res profile.Result) {
	if r.Model == "" {
		r.Model = text(res.Model)
	}
	if r.Serial == "" {
		r.Serial = text(res.Serial)
	}
	for k, n := range res.Counters {
		if _, ok := r.Counters[k]; ok && k == CounterTotal {
			continue // prtMarkerLifeCount wins
		}
		r.Counters[k] = n
	}
}

// Quick is the answer of the pre-release check.
type Quick struct {
	// Serial is prtGeneralSerialNumber or, when that is empty, the serial
	// object of the vendor profile the last Read matched; "" when neither
	// answers.
	Serial        string
	Status        Status
	DeviceStatus  string
	PrinterStatus string
	ErrorState    []string
}

// Check is the fast pre-release check: one GET of the serial number,
// hrDeviceStatus, hrPrinterStatus and hrPrinterDetectedErrorState. Its
// status has no alert-table reasons, which only a full read sees.
func (c *Client) Check(ctx context.Context) (Quick, error) {
	ctx, cancel := context.WithTimeout(ctx, c.s.Deadline)
	defer cancel()
	sess, closeSession, err := dial(ctx, c.s, c.log)
	if err != nil {
		return Quick{}, err
	}
	defer closeSession()
	sess.trace = c.trace

	dev := c.device.Load()
	at := func(col string) string { return col + "." + strconv.FormatInt(dev, 10) }
	v := values{}
	oids := []string{at(oidPrtGeneralSerialNumber), at(oidHrDeviceStatus), at(oidHrPrinterStatus), at(oidHrPrinterErrorState)}
	if vendor := c.serialOIDs.Load(); vendor != nil {
		oids = append(oids, *vendor...)
	}
	if err := getAll(ctx, sess, oids, v); err != nil {
		return Quick{}, fmt.Errorf("check printer %s: %w", c.s.Target, err)
	}
	devStatus, _ := v.int(oids[1])
	prnStatus, _ := v.int(oids[2])
	names, reasons := decodeErrorState(v.str(oids[3]))
	serial := text(v.str(oids[0]))
	for _, o := range oids[4:] {
		if serial != "" {
			break
		}
		serial = text(v.str(o))
	}
	return Quick{
		Serial:        serial,
		Status:        deriveStatus(devStatus, prnStatus, reasons, nil),
		DeviceStatus:  deviceStatusName(devStatus),
		PrinterStatus: printerStatusName(prnStatus),
		ErrorState:    names,
	}, nil
}

// getter lets a vendor profile read through the session of a full read.
type getter struct {
	r requester
	w *walker
}

func (g *getter) Get(ctx context.Context, oids []string) (map[string]any, error) {
	clean := make([]string, 0, len(oids))
	for _, o := range oids {
		o = strings.TrimPrefix(o, ".")
		if !validOID(o) {
			return nil, fmt.Errorf("get: bad OID %q", o)
		}
		clean = append(clean, o)
	}
	v := map[string]any{}
	if err := getAll(ctx, g.r, clean, v); err != nil {
		return nil, err
	}
	return v, nil
}

func (g *getter) Walk(ctx context.Context, root string) (map[string]any, error) {
	root = strings.TrimPrefix(root, ".")
	if !validOID(root) {
		return nil, fmt.Errorf("walk: bad OID %q", root)
	}
	v := map[string]any{}
	problems, err := g.w.walk(ctx, []string{root}, v)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return v, errors.Join(problems...)
	}
	return v, nil
}
