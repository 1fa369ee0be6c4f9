package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// tickEvery is how often a child reports to the parent.
const tickEvery = 250 * time.Millisecond

// connect is one accepted Boot: the agent, when (Unix ms), and for the
// agent's first one its connect time in ms (-1 for a reconnection).
type connect struct {
	Agent int   `json:"a"`
	At    int64 `json:"t"`
	Since int64 `json:"d"`
}

// tick is one child's report since its previous one, a line of JSON on
// its standard output.
type tick struct {
	Online   int            `json:"online"`
	Connects []connect      `json:"connects,omitempty"`
	Drops    []connect      `json:"drops,omitempty"`  // connections that ended (Since unused)
	Fails    int            `json:"fails,omitempty"`  // connections that ended, or never got a Boot accepted
	Beats    int            `json:"beats,omitempty"`  // heartbeats answered
	Meters   int            `json:"meters,omitempty"` // meter reads the hub took
	Tasks    int            `json:"tasks,omitempty"`  // tasks received
	Done     int            `json:"done,omitempty"`   // task ends the hub took (its answer to TaskStatus, or to the ack with --ack-only)
	Lost     int            `json:"lost,omitempty"`   // task statuses the hub did not take
	Errors   map[string]int `json:"errors,omitempty"` // why connections failed, by kind
}

// recorder gathers a child's figures between two ticks; every method is
// safe for concurrent use.
type recorder struct {
	mu   sync.Mutex
	cur  tick
	live int // agents online now
}

func (r *recorder) connected(agent int, at time.Time, since time.Duration) {
	c := connect{Agent: agent, At: at.UnixMilli(), Since: -1}
	if since >= 0 {
		c.Since = since.Milliseconds()
	}
	r.mu.Lock()
	r.live++
	r.cur.Connects = append(r.cur.Connects, c)
	r.mu.Unlock()
}

func (r *recorder) offline(agent int, at time.Time) {
	r.mu.Lock()
	r.live--
	r.cur.Drops = append(r.cur.Drops, connect{Agent: agent, At: at.UnixMilli()})
	r.mu.Unlock()
}

// serverTime counts the hub's answers to Boot and Heartbeat; the Boots
// are taken off at the tick.
func (r *recorder) serverTime() { r.add(&r.cur.Beats) }
func (r *recorder) metered()    { r.add(&r.cur.Meters) }
func (r *recorder) task()       { r.add(&r.cur.Tasks) }
func (r *recorder) taskDone()   { r.add(&r.cur.Done) }
func (r *recorder) taskLost()   { r.add(&r.cur.Lost) }

func (r *recorder) add(n *int) {
	r.mu.Lock()
	*n++
	r.mu.Unlock()
}

// failed counts a connection that ended or never booted, by a short kind
// of its error (addresses and ports taken out, so that kinds add up).
func (r *recorder) failed(err string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur.Fails++
	if r.cur.Errors == nil {
		r.cur.Errors = map[string]int{}
	}
	r.cur.Errors[errorKind(err)]++
}

// take returns the tick since the last one and starts the next.
func (r *recorder) take() tick {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.cur
	t.Online = r.live
	t.Beats = max(0, t.Beats-len(t.Connects))
	r.cur = tick{}
	return t
}

// errorKind shortens a connection error to what it says, without the
// addresses, ports and ids that make each one unique.
func errorKind(err string) string {
	words := strings.Fields(err)
	out := words[:0]
	for _, w := range words {
		if strings.ContainsAny(w, "0123456789") && (strings.Contains(w, ":") || strings.Contains(w, ".")) {
			continue // an address, a port, a URL
		}
		out = append(out, w)
	}
	s := strings.Join(out, " ")
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// failures is a slog handler that counts the link's "reconnecting"
// warnings (one per connection that ended or failed) by their error, and
// drops every other record: 15,000 agents' logs would drown the figures.
type failures struct{ rec *recorder }

func (f failures) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (f failures) WithAttrs([]slog.Attr) slog.Handler           { return f }
func (f failures) WithGroup(string) slog.Handler                { return f }
func (f failures) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "hub connection ended; reconnecting" {
		return nil
	}
	msg := "unknown"
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			msg = a.Value.String()
			return false
		}
		return true
	})
	f.rec.failed(msg)
	return nil
}

// childPlan is the share of the fleet one process runs.
type childPlan struct {
	first, count int
	agents       int // the whole fleet, for the source addresses
	sources      int
	prefix       string
	hubURL       string
	nodes        []string // the hub's nodes ("": the URL's host)
	ackOnly      bool
	ramp         time.Duration
	minBackoff   time.Duration
}

// runChild runs the plan's agents until ctx ends or stdin closes (the
// parent is gone), writing a tick to out every tickEvery.
func runChild(ctx context.Context, p childPlan, stdin io.Reader, out io.Writer, tlsFile string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // the parent holds our stdin: its end is ours
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()
	roots, err := loadRoots(tlsFile)
	if err != nil {
		return err
	}
	rec := &recorder{}
	logger := slog.New(failures{rec: rec})
	agents := make([]*simAgent, 0, p.count)
	for i := p.first; i < p.first+p.count; i++ {
		a, err := newSimAgent(agentSpec{index: i, id: fmt.Sprintf("%s%06d", p.prefix, i), hubURL: p.hubURL, nodes: p.nodes,
			source: sourceAddr(i, p.sources), tls: roots, ackOnly: p.ackOnly, minBackoff: p.minBackoff}, rec, logger)
		if err != nil {
			return err
		}
		agents = append(agents, a)
	}
	var wg sync.WaitGroup
	for i, a := range agents {
		wg.Go(func() {
			if !rampWait(ctx, p.ramp, i, len(agents)) {
				return
			}
			a.run(ctx)
		})
	}
	err = report(ctx, rec, out)
	cancel()
	wg.Wait()
	return err
}

// rampWait spreads the agents' first dials evenly over ramp; it reports
// false when ctx ended first.
func rampWait(ctx context.Context, ramp time.Duration, i, n int) bool {
	if ramp <= 0 || n == 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(ramp * time.Duration(i) / time.Duration(n))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// report writes a tick every tickEvery until ctx ends, and a last one.
func report(ctx context.Context, rec *recorder, out io.Writer) error {
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	t := time.NewTimer(tickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = enc.Encode(rec.take())
			return w.Flush()
		case <-t.C:
			t.Reset(tickEvery)
		}
		if err := enc.Encode(rec.take()); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
}

// sourceAddr is agent i's source address: 127.0.0.2 onwards, agents dealt
// over sources addresses in turn, so no address needs more ephemeral
// ports than the kernel has (32768-60999 on Debian: 28,232 per address
// and hub port).
func sourceAddr(i, sources int) net.IP {
	return net.IPv4(127, 0, byte((2+i%sources)>>8), byte((2+i%sources)&255))
}
