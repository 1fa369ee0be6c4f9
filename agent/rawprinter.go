package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/printer/pjl"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/release"
)

// rawFormats are the document formats sent to a raw 9100 printer; PJL
// names the language, or lets the printer switch by itself.
var rawFormats = []string{"application/pdf", "application/postscript", "application/vnd.hp-pcl", "application/octet-stream"}

// rawPrinter drives a raw port 9100 printer through PJL for the release
// engine. Print blocks until the printer reported the end of the job (or
// its counter settled), so Wait only hands over the result.
type rawPrinter struct {
	c *pjl.Client

	mu      sync.Mutex
	next    int
	results map[int]pjl.Result
}

func newRawPrinter(c *pjl.Client) *rawPrinter {
	// Port 9100 has no job ids; these are the agent's own. Starting each
	// run somewhere random keeps a job of this run from being taken for one
	// a previous run left with the same number.
	return &rawPrinter{c: c, results: map[int]pjl.Result{}, next: rand.IntN(1 << 30)}
}

func (r *rawPrinter) Info(ctx context.Context) (ipp.PrinterInfo, error) {
	return ipp.PrinterInfo{Name: "raw printer", State: "idle", AcceptingJobs: true, ColorSupported: true,
		DocumentFormats: rawFormats}, nil
}

func language(format string) string {
	switch strings.ToLower(format) {
	case "application/pdf":
		return "PDF"
	case "application/postscript":
		return "POSTSCRIPT"
	case "application/vnd.hp-pcl":
		return "PCL"
	}
	return ""
}

func (r *rawPrinter) Print(ctx context.Context, j ipp.Job) (int, error) {
	res, err := r.c.Print(ctx, pjl.Job{Name: j.Name, User: j.User, Copies: j.Copies,
		Duplex: j.Sides != "" && j.Sides != "one-sided", Color: j.ColorMode == "color", Size: j.Size, Body: j.Body,
		Language: language(j.Format), MaxPages: j.Impressions})
	if res.Uncertain || errors.Is(err, pjl.ErrUncertain) {
		return 0, fmt.Errorf("%w: %v", release.ErrUncertain, err)
	}
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	r.results[r.next] = res
	return r.next, nil
}

func (r *rawPrinter) Wait(ctx context.Context, id int) (ipp.JobState, error) {
	r.mu.Lock()
	res, ok := r.results[id]
	delete(r.results, id)
	r.mu.Unlock()
	if !ok {
		return ipp.JobState{}, release.ErrUncertain
	}
	st := ipp.JobState{ID: id, State: "completed", Terminal: true, Impressions: res.Pages}
	// HP's PJL reference names the results OK, USER_CANCELED,
	// HOST_CANCELED, RESOURCE_CANCELED...; anything but OK did not finish.
	// Pages printed before the end are charged; the job stays held.
	if r := strings.ToUpper(res.Result); r != "" && r != "OK" {
		st.State = "aborted"
		if strings.Contains(r, "CANCEL") {
			st.State = "canceled"
		}
		st.Reasons = append(st.Reasons, strings.ToLower(strings.ReplaceAll(r, "_", "-")))
	}
	if res.Unreconciled {
		st.Reasons = []string{release.ReasonUnreconciled}
	}
	return st, nil
}

// FindJob: port 9100 keeps no job list, so an interrupted raw release can
// never be reconciled.
func (r *rawPrinter) FindJob(ctx context.Context, name, user string) (ipp.JobState, bool, error) {
	return ipp.JobState{}, false, release.ErrNoJobQuery
}

// snmpCounter is the counter fallback of a silent raw printer.
type snmpCounter struct{ c *snmp.Client }

func (s snmpCounter) Total(ctx context.Context) (uint64, error) {
	r, err := s.c.Read(ctx)
	if err != nil {
		return 0, err
	}
	total, ok := r.Counters[snmp.CounterTotal]
	if !ok {
		return 0, errors.New("the printer reports no total page counter")
	}
	return total, nil
}

func (s snmpCounter) Idle(ctx context.Context) (bool, error) {
	q, err := s.c.Check(ctx)
	if err != nil {
		return false, err
	}
	return q.Status.State == snmp.StateReady || q.Status.State == snmp.StateSleeping, nil
}
