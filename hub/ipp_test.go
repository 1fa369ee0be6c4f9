package hub

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/OpenPrinting/goipp"
)

// ippCall sends an IPP request (op attributes after the charset and
// language, then a document) to the hub's /ipp/print with Basic
// credentials (user "" sends none); it returns the HTTP status and, on
// 200, the decoded response.
func (h *testHub) ippCall(user, pass string, op goipp.Op, ops goipp.Attributes, job goipp.Attributes, doc []byte) (int, *goipp.Message) {
	h.t.Helper()
	req := goipp.NewRequest(goipp.MakeVersion(2, 0), op, 1)
	req.Operation.Add(goipp.MakeAttr("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
	req.Operation.Add(goipp.MakeAttr("attributes-natural-language", goipp.TagLanguage, goipp.String("en")))
	req.Operation.Add(goipp.MakeAttr("printer-uri", goipp.TagURI, goipp.String("ipp://localhost/ipp/print")))
	req.Operation = append(req.Operation, ops...)
	req.Job = job
	b, err := req.EncodeBytes()
	if err != nil {
		h.t.Fatal(err)
	}
	hr, _ := http.NewRequest(http.MethodPost, h.srv.URL+ippPath, io.MultiReader(bytes.NewReader(b), bytes.NewReader(doc)))
	hr.Header.Set("Content-Type", goipp.ContentType)
	if user != "" {
		hr.SetBasicAuth(user, pass)
	}
	resp, err := h.srv.Client().Do(hr)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	var m goipp.Message
	if err := m.Decode(resp.Body); err != nil {
		h.t.Fatalf("decode IPP response: %v", err)
	}
	return resp.StatusCode, &m
}

func ippStatus(m *goipp.Message) goipp.Status { return goipp.Status(m.Code) }

func jobIDOf(t *testing.T, m *goipp.Message) int {
	t.Helper()
	for _, g := range m.Groups {
		for _, a := range g.Attrs {
			if a.Name == "job-id" {
				return int(a.Values[0].V.(goipp.Integer))
			}
		}
	}
	t.Fatalf("no job-id in %v", m.Groups)
	return 0
}

func jobGroups(m *goipp.Message) int {
	n := 0
	for _, g := range m.Groups {
		if g.Tag == goipp.TagJobGroup {
			n++
		}
	}
	return n
}

func jobIDAttr(id int) goipp.Attributes {
	return goipp.Attributes{goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(id))}
}

const ippPassword = "correct horse battery"

func newIPPHub(t *testing.T, edit func(*Config)) *testHub {
	h := newTestHub(t, edit)
	for _, u := range []string{"alice", "bob"} {
		h.createUser(map[string]any{"username": u, "full_name": u, "password": ippPassword})
	}
	return h
}

// A PDF printed to /ipp/print with the owner's password is held at the
// hub for them, with its attributes and counted pages (default.pdf has 1), listed by the admin
// API as held; a wrong password and an unknown user get 401 and store
// nothing; Get-Printer-Attributes needs no credentials.
func TestIPPPrintJobHeld(t *testing.T) {
	h := newIPPHub(t, nil)
	pdf := readTestdata(t, "default.pdf")
	if code, m := h.ippCall("", "", goipp.OpGetPrinterAttributes, nil, nil, nil); code != 200 || ippStatus(m) != goipp.StatusOk {
		t.Fatalf("Get-Printer-Attributes: %d %v", code, m)
	}
	for _, c := range []struct{ user, pass string }{{"alice", "wrong"}, {"nobody", ippPassword}, {"", ""}} {
		if code, _ := h.ippCall(c.user, c.pass, goipp.OpPrintJob, nil, nil, pdf); code != http.StatusUnauthorized {
			t.Fatalf("Print-Job as %q/%q: HTTP %d, want 401", c.user, c.pass, code)
		}
	}
	job := goipp.Attributes{
		goipp.MakeAttr("copies", goipp.TagInteger, goipp.Integer(2)),
		goipp.MakeAttr("sides", goipp.TagKeyword, goipp.String("two-sided-long-edge")),
		goipp.MakeAttr("print-color-mode", goipp.TagKeyword, goipp.String("color")),
		goipp.MakeAttr("media", goipp.TagKeyword, goipp.String("na_letter_8.5x11in")),
	}
	ops := goipp.Attributes{goipp.MakeAttr("job-name", goipp.TagName, goipp.String("report.pdf")),
		goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String("application/pdf"))}
	code, m := h.ippCall("alice", ippPassword, goipp.OpPrintJob, ops, job, pdf)
	if code != 200 || ippStatus(m) != goipp.StatusOk {
		t.Fatalf("Print-Job: %d %v", code, m)
	}
	jobIDOf(t, m)
	var list struct{ Jobs []jobView }
	r := h.mustStatus(h.admin(http.MethodGet, "/api/v1/jobs?owner=alice", nil), 200)
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.Jobs) != 1 {
		t.Fatalf("jobs of alice: %v %s", err, r.body)
	}
	j := list.Jobs[0]
	if j.State != stateHeld || j.Name != "report.pdf" || j.Copies != 2 || !j.Duplex || !j.Color ||
		j.Media != "na_letter_8.5x11in" || j.Format != formatPDF || j.Pages != 1 || j.Size != int64(len(pdf)) {
		t.Fatalf("held job: %+v", j)
	}
}

// Another person's job is invisible: Get-Job-Attributes and Cancel-Job
// say not-found, Get-Jobs lists only one's own; the owner cancels their
// held job.
func TestIPPOtherUsersJobs(t *testing.T) {
	h := newIPPHub(t, nil)
	pdf := readTestdata(t, "default.pdf")
	_, m := h.ippCall("alice", ippPassword, goipp.OpPrintJob, nil, nil, pdf)
	id := jobIDOf(t, m)
	for _, op := range []goipp.Op{goipp.OpGetJobAttributes, goipp.OpCancelJob} {
		if _, m := h.ippCall("bob", ippPassword, op, jobIDAttr(id), nil, nil); ippStatus(m) != goipp.StatusErrorNotFound {
			t.Fatalf("%s of alice's job as bob: %v", op, ippStatus(m))
		}
	}
	if _, m := h.ippCall("bob", ippPassword, goipp.OpGetJobs, nil, nil, nil); jobGroups(m) != 0 {
		t.Fatalf("bob lists %v", m.Groups)
	}
	if _, m := h.ippCall("alice", ippPassword, goipp.OpGetJobs, nil, nil, nil); jobGroups(m) != 1 {
		t.Fatalf("alice lists %v", m.Groups)
	}
	if _, m := h.ippCall("alice", ippPassword, goipp.OpCancelJob, jobIDAttr(id), nil, nil); ippStatus(m) != goipp.StatusOk {
		t.Fatalf("Cancel-Job by alice: %v", ippStatus(m))
	}
	r := h.mustStatus(h.admin(http.MethodGet, "/api/v1/jobs?owner=alice&state=deleted", nil), 200)
	if !bytes.Contains(r.body, []byte(`"state":"deleted"`)) {
		t.Fatalf("canceled job: %s", r.body)
	}
}

// Quotas per user: past MaxJobs held jobs, server-error-too-many-jobs; a
// document past the bytes left, client-error-request-entity-too-large.
func TestIPPQuotas(t *testing.T) {
	pdf := readTestdata(t, "default.pdf")
	h := newIPPHub(t, func(c *Config) { c.IPP = IPPLimits{MaxJobs: 1, MaxBytes: int64(len(pdf)) + 10} })
	if _, m := h.ippCall("alice", ippPassword, goipp.OpPrintJob, nil, nil, pdf); ippStatus(m) != goipp.StatusOk {
		t.Fatalf("first job: %v", ippStatus(m))
	}
	if _, m := h.ippCall("alice", ippPassword, goipp.OpPrintJob, nil, nil, pdf); ippStatus(m) != goipp.StatusErrorTooManyJobs {
		t.Fatalf("second job: %v", ippStatus(m))
	}
	big := append(append([]byte{}, pdf...), pdf...)
	if _, m := h.ippCall("bob", ippPassword, goipp.OpPrintJob, nil, nil, big); ippStatus(m) != goipp.StatusErrorRequestEntity {
		t.Fatalf("too large: %v", ippStatus(m))
	}
	r := h.mustStatus(h.admin(http.MethodGet, "/api/v1/jobs?owner=bob", nil), 200)
	if !bytes.Contains(r.body, []byte(`"jobs":[]`)) {
		t.Fatalf("bob's refused job stored: %s", r.body)
	}
}

// A success is remembered for ippAuthTTL: the old password still works
// for a minute after it changed (no hash), then no more.
func TestIPPAuthCache(t *testing.T) {
	h := newIPPHub(t, nil)
	if _, m := h.ippCall("alice", ippPassword, goipp.OpGetJobs, nil, nil, nil); ippStatus(m) != goipp.StatusOk {
		t.Fatal(ippStatus(m))
	}
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/alice", map[string]any{"password": "a new password here"}), 200)
	if code, _ := h.ippCall("alice", ippPassword, goipp.OpGetJobs, nil, nil, nil); code != 200 {
		t.Fatalf("cached credentials: HTTP %d", code)
	}
	h.clock.Advance(ippAuthTTL + time.Second)
	if code, _ := h.ippCall("alice", ippPassword, goipp.OpGetJobs, nil, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("old password after the cache's TTL: HTTP %d", code)
	}
	if code, _ := h.ippCall("alice", "a new password here", goipp.OpGetJobs, nil, nil, nil); code != 200 {
		t.Fatalf("new password: HTTP %d", code)
	}
}
