package ippserver

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/OpenPrinting/goipp"
)

// JobID is the job an operation names in its operation attributes ops:
// job-uri (its last path element), or printer-uri and job-id. A job-uri
// that names no job is client-error-not-found; a missing or malformed
// job-id, client-error-bad-request.
func JobID(ops goipp.Attributes) (int, error) {
	if a, ok := Attr(ops, "job-uri"); ok {
		if u, err := url.Parse(Value(a)); err == nil {
			if i := strings.LastIndexByte(u.Path, '/'); i >= 0 {
				if id, err := strconv.Atoi(u.Path[i+1:]); err == nil && id > 0 {
					return id, nil
				}
			}
		}
		return 0, Errorf(goipp.StatusErrorNotFound, "job-uri %q names no job", Truncate(Value(a), 255))
	}
	if _, ok := Attr(ops, "printer-uri"); !ok {
		return 0, Errorf(goipp.StatusErrorBadRequest, "no printer-uri or job-uri")
	}
	a, ok := Attr(ops, "job-id")
	if !ok {
		return 0, Errorf(goipp.StatusErrorBadRequest, "no job-id")
	}
	id, ok := IntValue(a)
	if !ok {
		return 0, Errorf(goipp.StatusErrorBadRequest, "job-id is not an integer")
	}
	return id, nil
}

// Truncate cuts s to at most n bytes on a rune boundary (IPP name and
// text values are bounded).
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
