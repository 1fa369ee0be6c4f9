package ippserver

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/OpenPrinting/goipp"
)

func TestValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		attr goipp.Attribute
		want string
	}{
		{"string", goipp.MakeAttr("a", goipp.TagKeyword, goipp.String("x"), goipp.String("y")), "x"},
		{"text with language", goipp.MakeAttr("a", goipp.TagTextLang, goipp.TextWithLang{Lang: "en", Text: "hi"}), "hi"},
		{"integer", goipp.MakeAttr("a", goipp.TagInteger, goipp.Integer(7)), "7"},
		{"boolean", goipp.MakeAttr("a", goipp.TagBoolean, goipp.Boolean(false)), "false"},
		{"no values", goipp.Attribute{Name: "a"}, ""},
	} {
		if got := Value(tc.attr); got != tc.want {
			t.Errorf("%s: Value = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestIntAndBoolValue(t *testing.T) {
	if n, ok := IntValue(goipp.MakeAttr("a", goipp.TagInteger, goipp.Integer(3))); n != 3 || !ok {
		t.Errorf("IntValue(3) = %d, %v", n, ok)
	}
	if _, ok := IntValue(goipp.MakeAttr("a", goipp.TagKeyword, goipp.String("3"))); ok {
		t.Error("IntValue of a keyword is ok")
	}
	if b, ok := BoolValue(goipp.MakeAttr("a", goipp.TagBoolean, goipp.Boolean(true))); !b || !ok {
		t.Errorf("BoolValue(true) = %v, %v", b, ok)
	}
	if _, ok := BoolValue(goipp.MakeAttr("a", goipp.TagBoolean, goipp.Boolean(true), goipp.Boolean(true))); ok {
		t.Error("BoolValue of two booleans is ok")
	}
}

func TestRequestedAndFilter(t *testing.T) {
	attrs := goipp.Attributes{
		goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(1)),
		goipp.MakeAttr("job-uri", goipp.TagURI, goipp.String("ipp://h/ipp/print/1")),
		goipp.MakeAttr("job-name", goipp.TagName, goipp.String("n")),
	}
	req := func(names ...string) goipp.Attributes {
		a := goipp.Attribute{Name: "requested-attributes"}
		for _, n := range names {
			a.Values.Add(goipp.TagKeyword, goipp.String(n))
		}
		return goipp.Attributes{a}
	}
	for _, tc := range []struct {
		name string
		ops  goipp.Attributes
		def  []string
		want int
	}{
		{"none asked: all", nil, nil, 3},
		{"none asked: defaults", nil, []string{"job-id", "job-uri"}, 2},
		{"one asked", req("job-name"), []string{"job-id"}, 1},
		{"a group", req("job-name", "job-description"), nil, 3},
		{"unknown", req("nonsense"), nil, 0},
	} {
		if got := Filter(attrs, Requested(tc.ops, tc.def...)); len(got) != tc.want {
			t.Errorf("%s: %d attributes, want %d", tc.name, len(got), tc.want)
		}
	}
}

func TestValidHost(t *testing.T) {
	for h, want := range map[string]bool{
		"printer.example": true, "127.0.0.1": true, "::1": true, "": false,
		"evil/path": false, "a b": false, "x\r\ny": false,
	} {
		if got := ValidHost(h); got != want {
			t.Errorf("ValidHost(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestUpTime(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		t    time.Time
		want int
	}{
		{start.Add(-time.Hour), 1},
		{start, 1},
		{start.Add(1500 * time.Millisecond), 2},
	} {
		if got := UpTime(start, tc.t); got != tc.want {
			t.Errorf("UpTime(%v) = %d, want %d", tc.t.Sub(start), got, tc.want)
		}
	}
}

func request(version goipp.Version, id uint32, charset string) *goipp.Message {
	m := goipp.NewRequest(version, goipp.OpGetPrinterAttributes, id)
	m.Operation.Add(goipp.MakeAttr("attributes-charset", goipp.TagCharset, goipp.String(charset)))
	m.Operation.Add(goipp.MakeAttr("attributes-natural-language", goipp.TagLanguage, goipp.String("en")))
	// Groups is what a decoded request carries; NewRequest leaves it empty.
	m.Groups = goipp.Groups{{Tag: goipp.TagOperationGroup, Attrs: m.Operation}}
	return m
}

func TestCheckRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  *goipp.Message
		want goipp.Status
	}{
		{"good", request(goipp.MakeVersion(2, 0), 1, "utf-8"), goipp.StatusOk},
		{"version", request(goipp.MakeVersion(3, 0), 1, "utf-8"), goipp.StatusErrorVersionNotSupported},
		{"request-id", request(goipp.MakeVersion(1, 1), 0, "utf-8"), goipp.StatusErrorBadRequest},
		{"charset", request(goipp.MakeVersion(1, 1), 1, "latin1"), goipp.StatusErrorCharset},
		{"no attributes", goipp.NewRequest(goipp.MakeVersion(1, 1), goipp.OpGetJobs, 1), goipp.StatusErrorBadRequest},
	} {
		err := CheckRequest(tc.req)
		var ie *Error
		switch {
		case tc.want == goipp.StatusOk && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != goipp.StatusOk && (!errors.As(err, &ie) || ie.Status != tc.want):
			t.Errorf("%s: %v, want status %v", tc.name, err, tc.want)
		}
	}
}

func TestAnswer(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	req := request(goipp.MakeVersion(3, 0), 9, "utf-8")
	groups := goipp.Groups{{Tag: goipp.TagPrinterGroup, Attrs: goipp.Attributes{
		goipp.MakeAttr("printer-name", goipp.TagName, goipp.String("p"))}}}
	unsupported := goipp.Attributes{goipp.MakeAttr("copies", goipp.TagInteger, goipp.Integer(0))}
	for _, tc := range []struct {
		name        string
		unsupported goipp.Attributes
		err         error
		status      goipp.Status
		message     string
		groups      int
	}{
		{"ok", nil, nil, goipp.StatusOk, "", 2},
		{"ignored", unsupported, nil, goipp.StatusOkIgnoredOrSubstituted, "", 3},
		{"refused", unsupported, Errorf(goipp.StatusErrorNotFound, "job %d", 4), goipp.StatusErrorNotFound, "job 4", 2},
		{"internal", nil, errors.New("disk on fire"), goipp.StatusErrorInternal, "internal error", 1},
	} {
		resp := Answer(req, groups, tc.unsupported, tc.err, log)
		if goipp.Status(resp.Code) != tc.status || resp.RequestID != 9 || resp.Version != goipp.MakeVersion(1, 1) {
			t.Errorf("%s: status %v, id %d, version %v", tc.name, goipp.Status(resp.Code), resp.RequestID, resp.Version)
		}
		if a, _ := Attr(resp.Groups[0].Attrs, "status-message"); Value(a) != tc.message {
			t.Errorf("%s: status-message %q, want %q", tc.name, Value(a), tc.message)
		}
		if len(resp.Groups) != tc.groups {
			t.Errorf("%s: %d groups, want %d", tc.name, len(resp.Groups), tc.groups)
		}
	}
}
