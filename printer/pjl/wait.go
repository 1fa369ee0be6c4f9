package pjl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/tessera-print/tessera/printer/snmp"
)

// counterStart is the page counter read before the job.
type counterStart struct {
	ok    bool
	total uint64
}

type settled struct {
	total uint64
	err   error
}

// await follows the job after the data: the USTATUS JOB END for its name
// wins; the counter is asked only when USTATUS cannot answer (the printer
// has said nothing of the job, closed the connection in order, or ended
// the job without a page count). Whatever is still unknown when the
// connection breaks, the JobTimeout passes or ctx ends is Uncertain.
func (c *Client) await(ctx context.Context, j Job, bc *backChannel, cnt counterStart, log *slog.Logger) (Result, error) {
	timer := time.NewTimer(c.jobTimeout)
	defer timer.Stop()

	var p poller
	defer p.stop()

	for {
		st := bc.snapshot()
		switch {
		case st.end != nil && st.end.HasPages:
			return ustatusResult(st), nil
		case st.closed && !st.cleanEOF:
			// A reset may have thrown away data the printer had not read.
			return uncertain(st, "connection broke before the printer reported the job's end", st.readErr)
		}
		wantCounter := cnt.ok && (!st.heard || st.closed || st.end != nil)
		switch {
		case wantCounter && p.c == nil:
			log.Debug("no page count from USTATUS; waiting for the page counter to settle",
				"heard", st.heard, "closed", st.closed)
			p.start(ctx, func(ctx context.Context) (uint64, error) { return c.settle(ctx, cnt.total, log) })
		case !wantCounter && p.c != nil:
			// The printer started talking about the job: its END is worth
			// more than a counter that other jobs can move.
			p.stop()
		case !wantCounter && st.closed:
			return uncertain(st, "printer closed the connection without a page count", nil)
		case !wantCounter && st.end != nil:
			return uncertain(st, "printer ended the job without a page count", nil)
		}

		select {
		case <-bc.notify:
		case s := <-p.c:
			if s.err != nil {
				return uncertain(st, "page counter did not settle", s.err)
			}
			return counterResult(cnt.total, s.total, j.MaxPages, bc.snapshot().devices, log), nil
		case <-timer.C:
			return uncertain(bc.snapshot(), fmt.Sprintf("no end of job within %v", c.jobTimeout), nil)
		case <-ctx.Done():
			return uncertain(bc.snapshot(), "stopped waiting for the job's end", context.Cause(ctx))
		}
	}
}

// poller runs one counter wait in the background.
type poller struct {
	cancel context.CancelFunc
	c      chan settled // nil when not polling
}

func (p *poller) start(ctx context.Context, f func(context.Context) (uint64, error)) {
	ctx, p.cancel = context.WithCancel(ctx)
	out := make(chan settled, 1) // the goroutine never waits for a reader
	p.c = out
	go func() {
		n, err := f(ctx)
		out <- settled{n, err}
	}()
}

func (p *poller) stop() {
	if p.cancel != nil {
		p.cancel()
		p.cancel, p.c = nil, nil
	}
}

func ustatusResult(st channelState) Result {
	r := st.end.Result
	if r == "" {
		r = st.canceled
	}
	if r == "" {
		// Older printers (the LaserJet 4 sample of the PJL reference,
		// 7-37) send no RESULT; END itself means the last page reached
		// the output bin, which is what RESULT=OK says.
		r = "OK"
	}
	return Result{Pages: st.end.Pages, Source: SourceUstatus, Result: r, Device: st.devices}
}

func uncertain(st channelState, reason string, cause error) (Result, error) {
	res := Result{Uncertain: true, Result: st.canceled, Device: st.devices}
	if st.end != nil && st.end.Result != "" {
		res.Result = st.end.Result
	}
	err := fmt.Errorf("%s: %w", reason, ErrUncertain)
	if d, ok := st.lastBlocking(); ok {
		err = fmt.Errorf("%w: %w", err, &DeviceError{Status: d})
	}
	if cause != nil {
		err = fmt.Errorf("%w: %w", err, cause)
	}
	return res, err
}

// counterResult charges the counter delta with printer/snmp.Delta's rule
// (one Counter32 wrap; a drop or a wrap of half the range or more is no
// delta), and refuses a delta the job cannot have made.
func counterResult(before, after uint64, maxPages int, devices []DeviceStatus, log *slog.Logger) Result {
	bits := 32
	if before > math.MaxUint32 || after > math.MaxUint32 {
		bits = 64
	}
	res := Result{Source: SourceCounter, CounterBefore: before, CounterAfter: after, Device: devices}
	d, ok := snmp.Delta(before, after, bits)
	if !ok || d > uint64(maxPages) {
		res.Unreconciled = true
		log.Warn("page counter delta not plausible; recorded, not charged",
			"before", before, "after", after, "max_pages", maxPages)
		return res
	}
	res.Pages = int(d)
	return res
}

// settle polls the printer until it is idle with the same counter over
// two polls in a row and returns that counter. A printer that looks idle
// with its counter unmoved may not have started the job yet, so that
// answer needs minQuietPolls polls. Failed polls break the chain and are
// retried; only ctx ends the wait.
func (c *Client) settle(ctx context.Context, before uint64, log *slog.Logger) (uint64, error) {
	t := time.NewTicker(c.idlePoll)
	defer t.Stop()
	var (
		prevTotal      uint64
		prevIdle, have bool
		moved          bool
		polls          int
	)
	for {
		idle, err := c.counter.Idle(ctx)
		var total uint64
		if err == nil {
			total, err = c.counter.Total(ctx)
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return 0, errors.Join(ctx.Err(), err)
		case err != nil:
			log.Debug("page counter poll failed", "err", err)
			have = false
		default:
			polls++
			moved = moved || !idle || total != before
			if have && prevIdle && idle && total == prevTotal && (moved || polls >= minQuietPolls) {
				return total, nil
			}
			prevIdle, prevTotal, have = idle, total, true
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}
