package ipp

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/internal/testenv"
)

// completedResponse is a printer's answer to CompletedJobs' two requests:
// its up-time (0: not reported), then jobs (nil: the listing refused).
func completedResponse(op goipp.Op, upTime int, jobs []goipp.Attributes) []byte {
	status := goipp.StatusOk
	if op == goipp.OpGetJobs && jobs == nil {
		status = goipp.StatusErrorAttributesOrValues
	}
	r := goipp.NewResponse(goipp.DefaultVersion, status, 1)
	r.Operation.Add(goipp.MakeAttribute("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
	switch {
	case op == goipp.OpGetPrinterAttributes && upTime > 0:
		r.Printer.Add(goipp.MakeAttribute("printer-up-time", goipp.TagInteger, goipp.Integer(upTime)))
	case op == goipp.OpGetJobs:
		for _, j := range jobs {
			r.Groups = append(r.Groups, goipp.Group{Tag: goipp.TagJobGroup, Attrs: j})
		}
	}
	b, _ := r.EncodeBytes()
	return b
}

// A listing gives every client's completed jobs with the printer's
// up-time; a printer that refuses it, or has no up-time, is "not listed",
// never an empty list.
func TestCompletedJobs(t *testing.T) {
	done := time.Date(2026, 12, 7, 10, 31, 5, 0, time.FixedZone("", -5*3600))
	var bob goipp.Attributes
	bob.Add(goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(41)))
	bob.Add(goipp.MakeAttribute("job-name", goipp.TagName, goipp.String("report.pdf")))
	bob.Add(goipp.MakeAttribute("job-originating-user-name", goipp.TagName, goipp.String("bob")))
	bob.Add(goipp.MakeAttribute("job-impressions-completed", goipp.TagInteger, goipp.Integer(3)))
	bob.Add(goipp.MakeAttribute("time-at-completed", goipp.TagInteger, goipp.Integer(480)))
	bob.Add(goipp.MakeAttribute("date-time-at-completed", goipp.TagDateTime, goipp.Time{Time: done}))
	var hidden goipp.Attributes // job privacy: only its id
	hidden.Add(goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(42)))

	for _, tc := range []struct {
		name     string
		upTime   int
		jobs     []goipp.Attributes
		want     []CompletedJob
		unlisted bool
	}{
		{"listed", 500, []goipp.Attributes{bob, hidden}, []CompletedJob{
			{ID: 41, Name: "report.pdf", User: "bob", Impressions: 3, ImpressionsKnown: true, CompletedAt: 480, CompletedAtKnown: true, CompletedDate: done},
			{ID: 42}}, false},
		{"none kept", 500, []goipp.Attributes{}, nil, false},
		{"refused", 500, nil, nil, true},
		{"no up-time", 0, []goipp.Attributes{bob}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c := startFake(t)
			f.respond = func(op goipp.Op) []byte { return completedResponse(op, tc.upTime, tc.jobs) }
			got, err := c.CompletedJobs(t.Context())
			if tc.unlisted {
				if !errors.Is(err, ErrJobsNotListed) {
					t.Fatalf("CompletedJobs = %+v, %v; want ErrJobsNotListed", got, err)
				}
				return
			}
			if err != nil || got.UpTime != tc.upTime || len(got.Jobs) != len(tc.want) {
				t.Fatalf("CompletedJobs = %+v, %v", got, err)
			}
			for i, w := range tc.want {
				g := got.Jobs[i]
				if g.ID != w.ID || g.Name != w.Name || g.User != w.User || g.Impressions != w.Impressions ||
					g.ImpressionsKnown != w.ImpressionsKnown || g.CompletedAt != w.CompletedAt || g.CompletedAtKnown != w.CompletedAtKnown || !g.CompletedDate.Equal(w.CompletedDate) {
					t.Errorf("job %d = %+v, want %+v", i, g, w)
				}
			}
			req := f.requests[len(f.requests)-1]
			if attr(req.Operation, "which-jobs") != "completed" || attr(req.Operation, "my-jobs") != "false" {
				t.Errorf("Get-Jobs asked which-jobs %q my-jobs %q", attr(req.Operation, "which-jobs"), attr(req.Operation, "my-jobs"))
			}
		})
	}
}

func TestDateTime(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want time.Time
		ok   bool
	}{
		// 2026 is 0x07EA: go-ipp hands 0xEA over as int8 -22.
		{[]int{7, -22, 12, 7, 10, 31, 5, 3, '+', 1, 0}, time.Date(2026, 12, 7, 9, 31, 5, 3e8, time.UTC), true},
		{[]int{7, -22, 13, 7, 10, 31, 5, 3, '+', 1, 0}, time.Time{}, false},
		{[]int{7, -22, 12, 7, 10, 31, 5, 3, 'x', 1, 0}, time.Time{}, false},
		{[]int{7, -22, 12}, time.Time{}, false},
	} {
		got, ok := dateTime(tc.in)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("dateTime(%v) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzCompletedJob(f *testing.F) {
	var j goipp.Attributes
	j.Add(goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(41)))
	j.Add(goipp.MakeAttribute("job-originating-user-name", goipp.TagName, goipp.String("bob")))
	j.Add(goipp.MakeAttribute("time-at-completed", goipp.TagInteger, goipp.Integer(480)))
	j.Add(goipp.MakeAttribute("date-time-at-completed", goipp.TagDateTime, goipp.Time{Time: time.Unix(1.8e9, 0)}))
	f.Add(completedResponse(goipp.OpGetJobs, 1, []goipp.Attributes{j}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeResponse(data)
		if err != nil {
			return
		}
		for _, g := range r.JobAttributes {
			completedJob(g)
		}
	})
}

// The real ippeveprinter lists a job another user printed, with its
// impressions, completed on the clock of its printer-up-time.
func TestIPPEveprinterCompletedJobs(t *testing.T) {
	e := testenv.StartIPPEveprinter(t)
	agent, err := New(e.URI, Options{User: "tessera", PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	workstation, err := New(e.URI, Options{User: "bob", PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	before, err := agent.CompletedJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "pdfpages", "testdata", "gs-3-pages.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	name := "workstation-" + token()
	id, err := workstation.Print(ctx, Job{Name: name, Format: "application/pdf", Size: int64(len(doc)), Body: bytes.NewReader(doc)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workstation.Wait(ctx, id); err != nil {
		t.Fatal(err)
	}
	after, err := agent.CompletedJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found *CompletedJob
	for i := range after.Jobs {
		if after.Jobs[i].ID == id {
			found = &after.Jobs[i]
		}
	}
	if found == nil {
		t.Fatalf("job %d not among the completed jobs %+v", id, after.Jobs)
	}
	if found.Name != name || found.User != "bob" || found.Impressions != 3 || !found.ImpressionsKnown ||
		!found.CompletedAtKnown || found.CompletedAt < before.UpTime || found.CompletedAt > after.UpTime {
		t.Errorf("job = %+v, want %s by bob, 3 impressions, completed between up-times %d and %d",
			*found, name, before.UpTime, after.UpTime)
	}
}
