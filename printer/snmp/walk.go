package snmp

import (
	"context"
	"errors"
	"fmt"

	"github.com/gosnmp/gosnmp"
)

// Bounds on what one read keeps, so a broken or hostile agent cannot make
// the agent allocate without end: printer tables have tens of rows.
const (
	maxRowsPerColumn = 1000
	maxValuesPerRead = 10000
	// defaultBudget is the number of variable bindings asked for in one
	// request: gosnmp's own limit per request, and under the 64 that
	// snmpsim (and many embedded agents) return at most.
	defaultBudget = gosnmp.MaxOids
)

// walker reads whole subtrees. It walks many columns in one request: a
// GETBULK (or GETNEXT) names the current position of each column, so a
// table of 7 columns and 5 rows costs one round trip instead of 35.
type walker struct {
	r      requester
	bulk   bool
	reps   int // max-repetitions
	budget int // variable bindings per request; halved on tooBig
	stored int // values kept so far, against maxValuesPerRead
}

func newWalker(r requester, bulk bool, reps int) *walker {
	if reps < 1 {
		reps = 1
	}
	return &walker{r: r, bulk: bulk, reps: reps, budget: defaultBudget}
}

// column is one subtree being walked.
type column struct {
	root string
	last string // the last OID seen, "" before the first
	rows int
	done bool
}

// walk reads every subtree in roots into into. A subtree that misbehaves
// (OIDs that do not increase, too many rows) ends on its own and is
// reported in problems; the other subtrees go on. err is for failures of
// the exchange itself (no answer, credentials refused), which end the walk.
func (w *walker) walk(ctx context.Context, roots []string, into map[string]any) (problems []error, err error) {
	queue := make([]*column, 0, len(roots))
	seen := make(map[string]bool, len(roots))
	for _, r := range roots {
		if !seen[r] && validOID(r) {
			seen[r] = true
			queue = append(queue, &column{root: r})
		}
	}
	var active []*column
	for len(queue) > 0 || len(active) > 0 {
		cols, reps := w.shape()
		for len(active) < cols && len(queue) > 0 {
			active = append(active, queue[0])
			queue = queue[1:]
		}
		oids := make([]string, len(active))
		for i, c := range active {
			oids[i] = c.root
			if c.last != "" {
				oids[i] = c.last
			}
		}
		var vbs []varbind
		if w.bulk {
			vbs, err = w.r.getBulk(ctx, oids, reps)
		} else {
			vbs, err = w.r.getNext(ctx, oids)
		}
		if err != nil {
			var se *StatusError
			if !errors.As(err, &se) {
				return problems, err
			}
			switch {
			case se.Status == gosnmp.TooBig && w.budget > 1:
				w.budget /= 2
				// Columns beyond the new width go back to the queue.
				if c, _ := w.shape(); len(active) > c {
					queue = append(active[c:], queue...)
					active = active[:c]
				}
				continue
			case se.Status == gosnmp.NoSuchName && se.Index >= 1 && se.Index <= len(active):
				// SNMPv1's end of the MIB view: that column is over.
				active[se.Index-1].done = true
				active = pending(active)
				continue
			}
			return problems, fmt.Errorf("walk %s: %w", oids[0], err)
		}
		if len(vbs) == 0 {
			// An answer without bindings would make us ask the same
			// question for ever.
			for _, c := range active {
				problems = append(problems, fmt.Errorf("walk %s: empty answer at %s: %w", c.root, c.last, ErrNotIncreasing))
			}
			active = nil
			continue
		}
		for i, vb := range vbs {
			c := active[i%len(active)]
			if c.done {
				continue
			}
			if p := w.step(c, vb, into); p != nil {
				problems = append(problems, p)
			}
		}
		if w.stored > maxValuesPerRead {
			return problems, fmt.Errorf("walk: more than %d values: agent is broken", maxValuesPerRead)
		}
		active = pending(active)
	}
	return problems, nil
}

// shape returns how many columns go in one request and the
// max-repetitions to ask, within the budget.
func (w *walker) shape() (cols, reps int) {
	if !w.bulk {
		return w.budget, 1
	}
	reps = min(w.reps, w.budget)
	return max(1, w.budget/reps), reps
}

// step takes one variable binding of column c. It returns a problem when
// the column had to end because the agent misbehaves.
func (w *walker) step(c *column, vb varbind, into map[string]any) error {
	if vb.Kind != kindValue || !under(vb.OID, c.root) || !validOID(vb.OID) {
		c.done = true
		return nil
	}
	if c.last != "" && compareOID(vb.OID, c.last) <= 0 {
		c.done = true
		return fmt.Errorf("walk %s: %s after %s: %w", c.root, vb.OID, c.last, ErrNotIncreasing)
	}
	c.last = vb.OID
	c.rows++
	if c.rows > maxRowsPerColumn {
		c.done = true
		return fmt.Errorf("walk %s: more than %d rows", c.root, maxRowsPerColumn)
	}
	if vb.Value != nil {
		into[vb.OID] = vb.Value
		w.stored++
	}
	return nil
}

// pending drops the finished columns.
func pending(cols []*column) []*column {
	out := cols[:0]
	for _, c := range cols {
		if !c.done {
			out = append(out, c)
		}
	}
	return out
}

// getAll reads single objects, at most budget per request. Objects the
// agent does not have are absent from into. SNMPv1 answers a missing
// object with noSuchName for the whole request: the object is dropped and
// the rest asked again.
func getAll(ctx context.Context, r requester, oids []string, into map[string]any) error {
	for start := 0; start < len(oids); start += defaultBudget {
		chunk := oids[start:min(start+defaultBudget, len(oids))]
		want := make(map[string]bool, len(chunk))
		for _, o := range chunk {
			want[o] = true
		}
		for len(chunk) > 0 {
			vbs, err := r.get(ctx, chunk)
			var se *StatusError
			if errors.As(err, &se) && se.Status == gosnmp.NoSuchName && se.Index >= 1 && se.Index <= len(chunk) {
				chunk = append(chunk[:se.Index-1:se.Index-1], chunk[se.Index:]...)
				continue
			}
			if err != nil {
				return err
			}
			for _, vb := range vbs {
				if vb.Kind == kindValue && vb.Value != nil && want[vb.OID] {
					into[vb.OID] = vb.Value
				}
			}
			break
		}
	}
	return nil
}
