package meter

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
)

// fakeJobs is a printer's list of completed jobs, as the test sets it.
type fakeJobs struct {
	mu   sync.Mutex
	list PrinterJobs
	fail bool
}

func (f *fakeJobs) CompletedJobs(ctx context.Context) (PrinterJobs, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return PrinterJobs{}, errors.New("client-error-attributes-or-values-not-supported")
	}
	return PrinterJobs{UpTime: f.list.UpTime, Jobs: append([]PrinterJob(nil), f.list.Jobs...)}, nil
}

func (f *fakeJobs) set(list PrinterJobs, fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list, f.fail = list, fail
}

func done(id int, name string, impressions, at int) PrinterJob {
	return PrinterJob{ID: id, Name: name, Impressions: impressions, ImpressionsKnown: true, CompletedAt: at, CompletedAtKnown: true}
}

// The print check counts the jobs other clients printed straight to the
// printer during the session (on the printer's clock) as accounted for,
// never the agent's own jobs a second time; a printer that cannot say
// leaves other clients "unknown".
func TestOtherClientsPrints(t *testing.T) {
	const own = "OWN" // stands for the agent's printer job name
	before := PrinterJobs{UpTime: 100, Jobs: []PrinterJob{done(7, "old.pdf", 5, 100)}}
	for _, tc := range []struct {
		name       string
		atLogin    *PrinterJobs // nil: the listing fails at login
		atLogout   *PrinterJobs // nil: the listing fails at logout
		printed    int64        // the print counter's move
		agentPages int          // the agent's print record in the session
		others     any          // the alert's other_clients; nil: no alert
	}{
		{"a workstation's direct print is accounted", &before,
			&PrinterJobs{UpTime: 160, Jobs: []PrinterJob{done(7, "old.pdf", 5, 100), done(8, own, 1, 120), done(9, "report.pdf", 3, 130)}},
			4, 1, nil},
		{"a job hiding its name is another's unless the journal has its id", &before,
			&PrinterJobs{UpTime: 160, Jobs: []PrinterJob{done(314, "", 1, 120), done(9, "", 3, 130)}},
			4, 1, nil},
		{"the agent's own job is not counted twice", &before,
			&PrinterJobs{UpTime: 160, Jobs: []PrinterJob{done(8, own, 1, 120)}},
			2, 1, int64(0)},
		{"pages no job accounts for", &before,
			&PrinterJobs{UpTime: 160, Jobs: []PrinterJob{done(9, "report.pdf", 3, 130)}},
			6, 1, int64(3)},
		{"the printer refuses the listing", &before, nil, 3, 0, otherClientsUnknown},
		{"no listing at login", nil, &PrinterJobs{UpTime: 160, Jobs: []PrinterJob{done(9, "report.pdf", 3, 130)}},
			3, 0, otherClientsUnknown},
		{"the printer restarted", &before, &PrinterJobs{UpTime: 40, Jobs: []PrinterJob{done(1, "report.pdf", 3, 30)}},
			3, 0, otherClientsUnknown},
		{"a job without its completion time", &before,
			&PrinterJobs{UpTime: 160, Jobs: []PrinterJob{{ID: 9, Name: "report.pdf", Impressions: 3, ImpressionsKnown: true}}},
			3, 0, otherClientsUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jobs := &fakeJobs{}
			r := newRig(t, "sharp_mx3570n", func(c *Config) { c.Jobs, c.Own = jobs, c.Store.(OwnJobs) })
			ctx := context.Background()
			if tc.atLogin != nil {
				jobs.set(*tc.atLogin, false)
			} else {
				jobs.set(PrinterJobs{}, true)
			}
			r.login("fred", "tok")
			r.src.add(map[string]int64{"print": tc.printed})
			c, err := r.store.Claim(ctx, "job-1", "fred", false)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.store.MarkSending(ctx, "job-1", offline.Settings{Pages: tc.agentPages, Copies: 1}); err != nil {
				t.Fatal(err)
			}
			if err := r.store.MarkPrinting(ctx, "job-1", 314); err != nil {
				t.Fatal(err)
			}
			if _, err := r.store.CommitPrinted(ctx, "job-1", protocol.Record{Pages: tc.agentPages, Copies: 1}); err != nil {
				t.Fatal(err)
			}
			if tc.atLogout != nil {
				l := *tc.atLogout
				l.Jobs = append([]PrinterJob(nil), l.Jobs...)
				for i := range l.Jobs {
					if l.Jobs[i].Name == own {
						l.Jobs[i].Name = c.PrinterJobName
					}
				}
				jobs.set(l, false)
			} else {
				jobs.set(PrinterJobs{}, true)
			}
			r.logout()
			a, got := r.alerts.find(AlertUnaccounted)
			if got != (tc.others != nil) {
				t.Fatalf("alerts %+v, want %s: %v", r.alerts.got, AlertUnaccounted, tc.others != nil)
			}
			if got && (a.Data["other_clients"] != tc.others || a.Data["agent_prints"] != int64(tc.agentPages) ||
				(tc.others == otherClientsUnknown) != (a.Data["other_clients_reason"] != nil)) {
				t.Errorf("alert data %+v, want other_clients %v and agent_prints %d", a.Data, tc.others, tc.agentPages)
			}
		})
	}
}
