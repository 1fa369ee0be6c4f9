package meter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
)

// Event kinds (Event.Kind).
const (
	Login  = "login"
	Logout = "logout"
)

// Event is a login or a logout at the panel.
type Event struct {
	Kind string // Login or Logout
	User string
	// LoginToken is the hub's token of an online session (the records'
	// basis); empty for a session the hub did not open.
	LoginToken string
	// Offline: the session was opened without the hub.
	Offline bool
}

// Sample is one read of the printer.
type Sample struct {
	// Busy: the printer prints or warms up, so its counters may still
	// move; such a sample's counters are never used.
	Busy     bool
	Counters map[string]uint64 // by snmp.Counter* name
	Serial   string
}

// Source reads the printer (the agent's SNMP client).
type Source interface {
	Read(ctx context.Context) (Sample, error)
}

// Store keeps the sessions and the ledger (offline.Store).
type Store interface {
	LedgerSeq(ctx context.Context) (int64, error)
	OpenMeterSession(ctx context.Context, ms offline.MeterSession) error
	SetMeterStart(ctx context.Context, id string, counters map[string]uint64) error
	EndMeterSession(ctx context.Context, id string, endedAt time.Time, reason string) error
	MeterSessions(ctx context.Context) ([]offline.MeterSession, error)
	SettleMeterSession(ctx context.Context, id string, recs []protocol.Record, reason string) ([]protocol.Record, error)
	PrintPagesBetween(ctx context.Context, after, upTo int64) (int64, error)
}

// Alert codes (Alert.Code).
const (
	// AlertFlagged: a counter went backwards or beyond plausibility; the
	// session was not charged for it.
	AlertFlagged = "session-meter-flagged"
	// AlertUnreconciled: a session's counters could not be read; it is
	// retried, or could not be charged at all.
	AlertUnreconciled = "session-meter-unreconciled"
	// AlertUnaccounted: the printer printed more or fewer pages during a
	// session than this agent's print records account for.
	AlertUnaccounted = "session-pages-unaccounted"
)

// Alert is something a technician should see (the agent raises it as a
// printer event). Its data names no one: the pages may be anyone's.
type Alert struct {
	Code    string
	Message string
	Data    map[string]any
}

// Config wires a Meter. Source and Store are required.
type Config struct {
	Source Source
	Store  Store
	// Alert raises an alert; nil: alerts are only logged.
	Alert func(ctx context.Context, a Alert)
	// Online reports whether the hub is reachable now (records made while
	// it is not are offline); nil: always online.
	Online func() bool
	// Jobs, if set, lists the printer's completed jobs: the print check
	// then counts the jobs other clients printed during a session as
	// accounted for by whoever sent them. Own is required with it.
	Jobs JobLister
	Own  OwnJobs
	// Settled, if set, is called after a session's records are durable
	// (the agent wakes its outbox sync).
	Settled func()
	// IdleWait bounds the wait for an idle printer before a read (config
	// meter_idle_wait; default 2 min).
	IdleWait time.Duration
	// Poll is the pause between two reads of a busy printer (default 5 s).
	Poll time.Duration
	// MaxPPM is the printer's rated pages per minute, bounding a
	// session's deltas by its length (config meter_max_ppm; default 120).
	MaxPPM int
	// MaxPages bounds one session's delta of any counter (config
	// meter_max_pages; default 5000).
	MaxPages uint64
	// RetryMin and RetryMax bound the backoff of an unreconciled
	// session's retries (defaults 1 min and 30 min).
	RetryMin, RetryMax time.Duration
	Logger             *slog.Logger
	// Clock times the waits and the sessions' lengths (nil: the system's).
	Clock clock.Clock
	// Now is the time written on sessions and records (the agent's
	// clock.Floor; nil: Clock.Now).
	Now func() time.Time
}

func (c *Config) fillDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.IdleWait, 2*time.Minute)
	def(&c.Poll, 5*time.Second)
	def(&c.RetryMin, time.Minute)
	def(&c.RetryMax, 30*time.Minute)
	if c.MaxPPM == 0 {
		c.MaxPPM = 120
	}
	if c.MaxPages == 0 {
		c.MaxPages = 5000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Clock = clock.OrReal(c.Clock)
	if c.Now == nil {
		c.Now = c.Clock.Now
	}
	if c.Online == nil {
		c.Online = func() bool { return true }
	}
	if c.Alert == nil {
		c.Alert = func(context.Context, Alert) {}
	}
}

// Meter follows the panel's sessions and charges their copies and scans.
// Notify is safe for concurrent use; Run owns everything else.
type Meter struct {
	cfg Config

	mu    sync.Mutex
	queue []Event
	wake  chan struct{}

	// Owned by Run's goroutine.
	cur *offline.MeterSession // the session open in this process
	// readAt is when each session's login read was taken, on cfg.Clock:
	// a session's length is known only within the process that read it.
	readAt map[string]time.Time
	// upAt is the printer's own clock (printer-up-time) at each session's
	// login read, when its jobs could be listed (Config.Jobs).
	upAt    map[string]int
	backoff time.Duration // the next retry's delay; 0: none due
	noted   bool          // the printer's counters were described (noteCounters)
}

// New checks cfg and returns a Meter; Run starts it.
func New(cfg Config) (*Meter, error) {
	if cfg.Source == nil || cfg.Store == nil {
		return nil, errors.New("meter: a source and a store are required")
	}
	if cfg.Jobs != nil && cfg.Own == nil {
		return nil, errors.New("meter: a job lister needs Own to tell the agent's jobs apart")
	}
	if cfg.IdleWait < 0 || cfg.Poll < 0 || cfg.MaxPPM < 0 || cfg.RetryMin < 0 || cfg.RetryMax < 0 {
		return nil, errors.New("meter: negative wait, speed or retry")
	}
	cfg.fillDefaults()
	if cfg.RetryMax < cfg.RetryMin {
		return nil, errors.New("meter: RetryMax below RetryMin")
	}
	return &Meter{cfg: cfg, wake: make(chan struct{}, 1), readAt: map[string]time.Time{}, upAt: map[string]int{}}, nil
}

// Notify queues a login or logout; it never blocks (the session calls it
// with its lock held).
func (m *Meter) Notify(ev Event) {
	m.mu.Lock()
	m.queue = append(m.queue, ev)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Meter) next() (Event, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.queue) == 0 {
		return Event{}, false
	}
	ev := m.queue[0]
	m.queue = m.queue[1:]
	return ev, true
}

// Run handles the events in order and retries unreconciled sessions until
// ctx ends. A session a previous run left open ended with that run.
func (m *Meter) Run(ctx context.Context) {
	m.recover(ctx)
	for {
		for {
			ev, ok := m.next()
			if !ok {
				break
			}
			m.handle(ctx, ev)
		}
		if !m.wait(ctx) {
			return
		}
	}
}

// wait waits for an event, or for the next retry when one is due and no
// session is open (a login's read settles what is pending anyway). It
// returns false when ctx ended.
func (m *Meter) wait(ctx context.Context) bool {
	var retry <-chan time.Time
	if m.backoff > 0 && m.cur == nil {
		t, c := m.cfg.Clock.NewTimer(m.backoff)
		defer t.Stop()
		retry = c
	}
	select {
	case <-ctx.Done():
		return false
	case <-m.wake:
	case <-retry:
		m.retry(ctx)
	}
	return true
}

func (m *Meter) handle(ctx context.Context, ev Event) {
	switch ev.Kind {
	case Login:
		m.login(ctx, ev)
	case Logout:
		m.logout(ctx)
	default:
		m.cfg.Logger.Error("unknown session event", "kind", ev.Kind)
	}
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// basis is what an event's records stand on at the hub.
func basis(ev Event) (string, string) {
	if ev.LoginToken != "" {
		return protocol.BasisLogin, ev.LoginToken
	}
	return protocol.BasisDevice, ""
}

func (m *Meter) alert(ctx context.Context, code, msg string, data map[string]any) {
	m.cfg.Logger.Warn(msg, "alert", code, "data", data)
	m.cfg.Alert(ctx, Alert{Code: code, Message: msg, Data: data})
}

// errBusy is a printer that stayed busy for the whole wait.
var errBusy = errors.New("the printer stayed busy")

// readIdle reads the printer once it is idle, polling it every cfg.Poll
// for at most cfg.IdleWait; a read that fails is polled again too, within
// the same bound. A busy sample's counters are never returned.
func (m *Meter) readIdle(ctx context.Context) (Sample, error) {
	var waited time.Duration
	for {
		s, err := m.cfg.Source.Read(ctx)
		switch {
		case err == nil && !s.Busy:
			return s, nil
		case err == nil:
			err = errBusy
		}
		if waited >= m.cfg.IdleWait {
			return Sample{}, fmt.Errorf("read the printer's counters (waited %v): %w", waited, err)
		}
		t, c := m.cfg.Clock.NewTimer(m.cfg.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return Sample{}, ctx.Err()
		case <-c:
		}
		waited += m.cfg.Poll
	}
}
