package ippserver

import (
	"errors"
	"testing"

	"github.com/OpenPrinting/goipp"
)

func TestJobID(t *testing.T) {
	str := func(tag goipp.Tag, name, v string) goipp.Attribute {
		return goipp.MakeAttribute(name, tag, goipp.String(v))
	}
	uri := str(goipp.TagURI, "printer-uri", "ipp://h/ipp/print")
	id := func(v goipp.Value) goipp.Attribute { return goipp.MakeAttribute("job-id", goipp.TagInteger, v) }
	tests := []struct {
		name   string
		ops    goipp.Attributes
		want   int
		status goipp.Status // 0: no error
	}{
		{"job-uri", goipp.Attributes{str(goipp.TagURI, "job-uri", "ipp://h/ipp/print/42")}, 42, 0},
		{"job-uri naming no job", goipp.Attributes{str(goipp.TagURI, "job-uri", "ipp://h/ipp/print/x")}, 0, goipp.StatusErrorNotFound},
		{"job-uri with id 0", goipp.Attributes{str(goipp.TagURI, "job-uri", "ipp://h/ipp/print/0")}, 0, goipp.StatusErrorNotFound},
		{"printer-uri and job-id", goipp.Attributes{uri, id(goipp.Integer(7))}, 7, 0},
		{"no printer-uri", goipp.Attributes{id(goipp.Integer(7))}, 0, goipp.StatusErrorBadRequest},
		{"no job-id", goipp.Attributes{uri}, 0, goipp.StatusErrorBadRequest},
		{"job-id not an integer", goipp.Attributes{uri, goipp.MakeAttribute("job-id", goipp.TagName, goipp.String("7"))}, 0, goipp.StatusErrorBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := JobID(tc.ops)
			var e *Error
			switch {
			case tc.status == 0 && (err != nil || got != tc.want):
				t.Fatalf("JobID = %d, %v; want %d", got, err, tc.want)
			case tc.status != 0 && (!errors.As(err, &e) || e.Status != tc.status):
				t.Fatalf("JobID = %d, %v; want status %v", got, err, tc.status)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{{"abc", 5, "abc"}, {"abcdef", 3, "abc"}, {"aé", 2, "a"}, {"é", 1, ""}} {
		if got := Truncate(tc.s, tc.n); got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
