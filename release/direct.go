package release

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/tessera-print/tessera/offline"
)

// ErrOutcomeUnknown is PrintNow's answer when the document may have reached
// the printer but its end is not known (yet): the sender must not send it
// again, which could print it twice.
var ErrOutcomeUnknown = errors.New("the printer has not said how the job ended")

// Direct is a document printed at once rather than held: the agent's
// /ipp/direct queue.
type Direct struct {
	Owner, Name, Format string
	Copies              int
	// Pages of one copy, 0 when unknown: charged when the printer does not
	// count what it printed.
	Pages         int
	Color, Duplex bool
	Size          int64 // -1: unknown
	Body          io.Reader
}

// directSource hands each direct document to the engine once.
type directSource struct {
	mu   sync.Mutex
	docs map[string]*Document
}

func (d *directSource) Name() string { return "direct" }
func (d *directSource) List(ctx context.Context, username string) ([]Held, error) {
	return nil, nil
}

func (d *directSource) Open(ctx context.Context, id, username string) (*Document, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	doc, ok := d.docs[id]
	if !ok {
		// The body is a stream that cannot be read twice.
		return nil, errors.New("a direct document can be sent only once")
	}
	delete(d.docs, id)
	return doc, nil
}

func (d *directSource) Printed(ctx context.Context, id, username string, keep bool) error { return nil }
func (d *directSource) Delete(ctx context.Context, id, username string) error             { return nil }

// PrintNow prints a document at once, through the same journal, checks
// and charging as a release, and returns the impressions charged.
//
// ctx may end the print (a Cancel-Job, the agent stopping) only until the
// document starts going to the printer. From then on the job is followed
// to its end and charged, for up to Config.Timeout, whatever ctx does: a
// job the printer has is never left printed but uncharged.
func (e *Engine) PrintNow(ctx context.Context, d Direct) (int, error) {
	if err := copiesFor(Job{Pages: d.Pages, Copies: max(d.Copies, 1)}, Options{}); err != nil {
		return 0, fmt.Errorf("print now: %w", err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := "direct:" + hex.EncodeToString(b)
	claim, err := e.cfg.Journal.Claim(ctx, id, d.Owner, false)
	if err != nil {
		return 0, fmt.Errorf("print now: %w", err)
	}
	e.direct.mu.Lock()
	e.direct.docs[strip(id)] = &Document{Body: io.NopCloser(d.Body), Size: d.Size, Format: d.Format}
	e.direct.mu.Unlock()
	defer func() {
		e.direct.mu.Lock()
		delete(e.direct.docs, strip(id))
		e.direct.mu.Unlock()
	}()
	job := Job{ID: id, Source: "direct", Name: d.Name, Owner: d.Owner, Pages: d.Pages, Copies: max(d.Copies, 1),
		Color: d.Color, Duplex: d.Duplex, Format: d.Format, Size: d.Size, State: StateQueued}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.Timeout)
	defer cancel()
	e.run(rctx, ctx, claim, job, Options{})
	c, _, err := e.cfg.Journal.Get(context.WithoutCancel(ctx), id)
	if err != nil {
		return 0, fmt.Errorf("print now: %w", err)
	}
	switch c.State {
	case offline.StatePrinted:
	case offline.StateSending, offline.StatePrinting:
		// Charged when the printer tells how it ended (RecoverLoop).
		return 0, fmt.Errorf("print now: %w; it is asked again", ErrOutcomeUnknown)
	case offline.StateUncertain:
		return 0, fmt.Errorf("print now: %w: %s", ErrOutcomeUnknown, c.Reason)
	default:
		return 0, fmt.Errorf("print now: %s: %s", c.State, c.Reason)
	}
	return c.Impressions, nil
}

func strip(id string) string {
	_, rest, _ := splitID(id)
	return rest
}
