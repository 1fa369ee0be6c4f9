package agent

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/panel"
	"github.com/tessera-print/tessera/session"
)

// techSources is what the technician's view and connection test read.
type techSources struct {
	link    *cloudlink.Link
	hubURL  string
	sess    *session.Manager
	store   *offline.Store
	version string
	ring    *logRing
	seen    *linkSeen
	// dev does the device actions (techdevice.go); nil: not offered.
	dev *techDevice
}

// linkSeen remembers when the hub link last came online, for the
// technician's "last connected".
type linkSeen struct {
	mu sync.Mutex
	at time.Time
}

func (l *linkSeen) note(online bool, now time.Time) {
	if !online {
		return
	}
	l.mu.Lock()
	l.at = now
	l.mu.Unlock()
}

func (l *linkSeen) last() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.at
}

// errNoView is the view asked of a technician built without its sources.
var errNoView = errors.New("technician view: not wired")

// View is the technician's view: the printer's last SNMP reading, the
// readers, the hub link, the outbox, the version and id, the log.
func (t *technician) View(ctx context.Context) (panel.TechView, error) {
	src := t.src
	if src == nil {
		return panel.TechView{}, errNoView
	}
	id, err := src.store.AgentID(ctx)
	if err != nil {
		return panel.TechView{}, fmt.Errorf("technician view: %w", err)
	}
	st, err := src.store.OutboxStats(ctx)
	if err != nil {
		return panel.TechView{}, fmt.Errorf("technician view: %w", err)
	}
	v := panel.TechView{Version: src.version, AgentID: id, Readers: techReaders(src.sess.View()),
		Cloud: panel.TechCloud{Online: src.link.Online(), HubURL: safeURL(src.hubURL), LastConnected: timeOrNil(src.seen.last())},
		Sync:  panel.TechSync{Pending: st.Pending, LastSuccess: timeOrNil(st.LastAck), OldestPending: timeOrNil(st.Oldest)},
		Log:   src.ring.Lines()}
	t.watch.mu.Lock()
	if t.watch.last != nil {
		v.Printer = t.watch.last
	}
	t.watch.mu.Unlock()
	return v, nil
}

func techReaders(v session.View) []panel.TechReader {
	out := make([]panel.TechReader, 0, len(v.Readers))
	for _, r := range v.Readers {
		state := "unplugged"
		if r.Attached {
			state = "attached"
		}
		out = append(out, panel.TechReader{Name: r.Name, State: state})
	}
	return out
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// safeURL is the hub's address without what could be a credential (user
// info, query, fragment).
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User, u.RawQuery, u.Fragment, u.ForceQuery = nil, "", "", false
	return u.String()
}

// Poll wakes the printer watch to read the printer now; the reading shows
// in the view (and the session) once it is done.
func (t *technician) Poll(ctx context.Context) error {
	select {
	case t.watch.pollChan() <- struct{}{}:
	default: // a poll is already asked for
	}
	return nil
}

// pollChan is the watch's wake-up channel, made on first use.
func (w *printerWatch) pollChan() chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.poll == nil {
		w.poll = make(chan struct{}, 1)
	}
	return w.poll
}

// Test tries the hub link, the printer over SNMP and IPP, and the readers,
// each bounded by ctx; a part that is not configured is not listed.
func (t *technician) Test(ctx context.Context) []panel.TestResult {
	var out []panel.TestResult
	if t.src != nil {
		out = append(out, t.testHub())
	}
	if t.watch.snmp != nil {
		out = append(out, t.testSNMP(ctx))
	}
	if t.watch.ipp != nil {
		out = append(out, t.testIPP(ctx))
	}
	if t.src != nil {
		for _, r := range techReaders(t.src.sess.View()) {
			res := panel.TestResult{Name: "reader " + r.Name, OK: r.State == "attached", Message: "The reader is connected."}
			if !res.OK {
				res.Message = "The reader is unplugged or does not answer."
			}
			out = append(out, res)
		}
	}
	return out
}

// testHub reports the link's state: the link itself reconnects all the
// time, so its state is the test's answer.
func (t *technician) testHub() panel.TestResult {
	res := panel.TestResult{Name: "hub", OK: t.src.link.Online()}
	if res.OK {
		res.Message = "Connected to the hub at " + safeURL(t.src.hubURL) + "."
	} else {
		res.Message = "Not connected to the hub at " + safeURL(t.src.hubURL) + "; the agent keeps trying. The agent's log says why."
	}
	return res
}

func (t *technician) testSNMP(ctx context.Context) panel.TestResult {
	q, err := t.watch.snmp.Check(ctx)
	if err != nil {
		t.watch.log.Warn("technician test: the printer does not answer over SNMP", "err", err)
		return panel.TestResult{Name: "printer-snmp", Message: "The printer does not answer over SNMP; the log below says why."}
	}
	return panel.TestResult{Name: "printer-snmp", OK: true,
		Message: fmt.Sprintf("The printer answers over SNMP: serial %q, %s.", q.Serial, q.Status.State)}
}

func (t *technician) testIPP(ctx context.Context) panel.TestResult {
	info, err := t.watch.ipp.Info(ctx)
	if err != nil {
		t.watch.log.Warn("technician test: the printer does not answer over IPP", "err", err)
		return panel.TestResult{Name: "printer-ipp", Message: "The printer does not answer over IPP; the log below says why."}
	}
	words := info.State
	if len(info.StateReasons) > 0 {
		words += " (" + strings.Join(info.StateReasons, ", ") + ")"
	}
	return panel.TestResult{Name: "printer-ipp", OK: true, Message: "The printer answers over IPP: " + words + "."}
}
