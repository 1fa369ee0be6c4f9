package ippserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/OpenPrinting/goipp"
)

// MaxRequestHeader bounds the attributes of a request; what follows them
// is the document, which each server bounds by its own rules.
const MaxRequestHeader = 64 << 10

// Error is an IPP error status with its message: what an operation
// returns to refuse a request, as opposed to an internal failure.
type Error struct {
	Status goipp.Status
	Msg    string
}

func (e *Error) Error() string { return e.Status.String() + ": " + e.Msg }

// Errorf is an *Error with a formatted message.
func Errorf(status goipp.Status, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// ReadRequest checks that r is an IPP POST and decodes its attributes
// from body (r's body, wrapped as the server bounds it), at most
// MaxRequestHeader bytes of them; the document stays unread in body. When
// it returns false it has answered with an HTTP error.
func ReadRequest(w http.ResponseWriter, r *http.Request, body io.Reader, log *slog.Logger) (*goipp.Message, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "IPP requests are POSTed", http.StatusMethodNotAllowed)
		return nil, false
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), goipp.ContentType) {
		http.Error(w, "Content-Type must be application/ipp", http.StatusUnsupportedMediaType)
		return nil, false
	}
	var req goipp.Message
	if err := req.Decode(&io.LimitedReader{R: body, N: MaxRequestHeader}); err != nil {
		log.Debug("undecodable IPP request", "err", err)
		http.Error(w, "malformed IPP request", http.StatusBadRequest)
		return nil, false
	}
	return &req, true
}

// WriteResponse encodes resp and writes it to w. Unread document bytes (a
// refused Print-Job) are first discarded from body, bounded, so that the
// client sees the answer rather than a reset connection.
func WriteResponse(w http.ResponseWriter, resp *goipp.Message, body *bufio.Reader, log *slog.Logger) {
	b, err := resp.EncodeBytes()
	if err != nil {
		log.Error("encode IPP response", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	io.Copy(io.Discard, io.LimitReader(body, 1<<20))
	w.Header().Set("Content-Type", goipp.ContentType)
	w.Write(b)
}

// CheckRequest applies the checks of RFC 8011 every request passes before
// its operation runs: the version, the request-id, and (4.1.4) a request
// that starts with attributes-charset and attributes-natural-language, in
// that order.
func CheckRequest(req *goipp.Message) error {
	switch {
	case req.Version.Major() != 1 && req.Version.Major() != 2:
		return Errorf(goipp.StatusErrorVersionNotSupported, "IPP %s is not supported", req.Version)
	case req.RequestID == 0 || req.RequestID > 1<<31-1:
		return Errorf(goipp.StatusErrorBadRequest, "request-id %d is out of range", req.RequestID)
	}
	ops := req.Operation
	if len(req.Groups) == 0 || req.Groups[0].Tag != goipp.TagOperationGroup || len(ops) < 2 ||
		ops[0].Name != "attributes-charset" || ops[1].Name != "attributes-natural-language" {
		return Errorf(goipp.StatusErrorBadRequest, "attributes-charset and attributes-natural-language must come first")
	}
	if cs := strings.ToLower(Value(ops[0])); cs != "utf-8" && cs != "us-ascii" {
		return Errorf(goipp.StatusErrorCharset, "charset %q is not supported", cs)
	}
	return nil
}

// Answer is the response to req: err, when it is an *Error, gives the
// status and status-message; any other error is logged and answered as
// an internal error, so that its text never reaches the client. Groups
// are sent only on success; unsupported attributes always, and on success
// they make the status successful-ok-ignored-or-substituted-attributes.
func Answer(req *goipp.Message, groups goipp.Groups, unsupported goipp.Attributes, err error, log *slog.Logger) *goipp.Message {
	version := req.Version
	if version.Major() != 1 && version.Major() != 2 {
		version = goipp.MakeVersion(1, 1)
	}
	status := goipp.StatusOk
	var message string
	var ie *Error
	switch {
	case errors.As(err, &ie):
		status, message = ie.Status, ie.Msg
	case err != nil:
		log.Error("IPP request failed", "op", goipp.Op(req.Code).String(), "err", err)
		status, message = goipp.StatusErrorInternal, "internal error"
	case len(unsupported) > 0:
		status = goipp.StatusOkIgnoredOrSubstituted
	}
	resp := goipp.NewResponse(version, status, req.RequestID)
	opAttrs := goipp.Attributes{
		goipp.MakeAttr("attributes-charset", goipp.TagCharset, goipp.String("utf-8")),
		goipp.MakeAttr("attributes-natural-language", goipp.TagLanguage, goipp.String("en")),
	}
	if message != "" {
		opAttrs.Add(goipp.MakeAttr("status-message", goipp.TagText, goipp.String(message)))
	}
	resp.Groups = goipp.Groups{{Tag: goipp.TagOperationGroup, Attrs: opAttrs}}
	if len(unsupported) > 0 {
		resp.Groups = append(resp.Groups, goipp.Group{Tag: goipp.TagUnsupportedGroup, Attrs: unsupported})
	}
	if err == nil {
		resp.Groups = append(resp.Groups, groups...)
	}
	return resp
}

// ValidHost reports whether h (a Host header without its port) is a host
// name or IP address that may be echoed back in a printer URI: the header
// is the client's.
func ValidHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// UpTime is an up-time attribute (printer-up-time, time-at-creation, ...)
// for t, in seconds since started; RFC 8011 wants it positive.
func UpTime(started, t time.Time) int {
	return max(1, int(t.Sub(started)/time.Second)+1)
}
