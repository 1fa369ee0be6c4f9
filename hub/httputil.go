package hub

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/tessera-print/tessera/internal/jsonerr"
)

// Error codes of the admin API's error body, one per HTTP status.
const (
	codeBadRequest       = "bad-request"
	codeUnauthorized     = "unauthorized"
	codeNotFound         = "not-found"
	codeMethodNotAllowed = "method-not-allowed"
	codeConflict         = "conflict"
	codeTooLarge         = "too-large"
	codeInvalid          = "invalid"
	codeInternal         = "internal"
	codeUnavailable      = "unavailable"
)

// apiError is a failure with its HTTP status and error code.
type apiError struct {
	status  int
	code    string
	message string
	index   *int // the failing entry of a bulk import
}

func (e *apiError) Error() string { return e.message }

func errBadRequest(format string, a ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeBadRequest, message: fmt.Sprintf(format, a...)}
}

func errNotFound(format string, a ...any) *apiError {
	return &apiError{status: http.StatusNotFound, code: codeNotFound, message: fmt.Sprintf(format, a...)}
}

func errConflict(format string, a ...any) *apiError {
	return &apiError{status: http.StatusConflict, code: codeConflict, message: fmt.Sprintf(format, a...)}
}

func errInvalid(format string, a ...any) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: codeInvalid, message: fmt.Sprintf(format, a...)}
}

func errTooLarge(format string, a ...any) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge, message: fmt.Sprintf(format, a...)}
}

func errUnauthorized(message string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: codeUnauthorized, message: message}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Index   *int   `json:"index,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tessera-hub"`)
	}
	writeJSON(w, e.status, errorBody{Error: errorDetail{Code: e.code, Message: e.message, Index: e.index}})
}

// apiFunc is a handler that may fail with an error: an *apiError is sent as
// is; anything else is logged and sent as a 500 without its text.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) api(f apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := f(w, r)
		if err == nil {
			return
		}
		var ae *apiError
		if errors.As(err, &ae) {
			writeAPIError(w, ae)
			return
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeAPIError(w, errTooLarge("request body larger than %d bytes", mbe.Limit))
			return
		}
		s.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		if !s.databaseUp(r.Context()) {
			// Temporary: a load balancer or client retries elsewhere or later.
			writeAPIError(w, &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, message: "the database is unreachable; retry later"})
			return
		}
		writeAPIError(w, &apiError{status: http.StatusInternalServerError, code: codeInternal, message: "internal error"})
	}
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// router registers method-specific patterns and, for every path, a
// method-less fallback answering 405 with the JSON error body (the
// ServeMux's own 405 is plain text).
type router struct {
	mux     *http.ServeMux
	methods map[string][]string
	wrap    map[string]func(http.Handler) http.Handler
}

func newRouter() *router {
	return &router{mux: http.NewServeMux(), methods: map[string][]string{}, wrap: map[string]func(http.Handler) http.Handler{}}
}

// handleUnder registers a literal path that a wildcard path registered for
// other methods also matches (POST /api/v1/users/import beside
// GET /api/v1/users/{username}). It gets no fallback of its own: a
// method-less pattern would conflict with the wildcard's method patterns
// (the ServeMux panics); other methods on it reach the wildcard's handlers.
func (rt *router) handleUnder(method, path string, h http.Handler, wrap func(http.Handler) http.Handler) {
	if wrap != nil {
		h = wrap(h)
	}
	rt.mux.Handle(method+" "+path, h)
}

func (rt *router) handle(method, path string, h http.Handler, wrap func(http.Handler) http.Handler) {
	if wrap != nil {
		h = wrap(h)
		rt.wrap[path] = wrap
	}
	rt.mux.Handle(method+" "+path, h)
	rt.methods[path] = append(rt.methods[path], method)
}

func (rt *router) finish() *http.ServeMux {
	for path, methods := range rt.methods {
		allow := append([]string(nil), methods...)
		for _, m := range methods {
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
		sort.Strings(allow)
		allowHeader := strings.Join(allow, ", ")
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allowHeader)
			writeAPIError(w, &apiError{status: http.StatusMethodNotAllowed, code: codeMethodNotAllowed,
				message: r.Method + " is not allowed here; allowed: " + allowHeader})
		})
		if wrap := rt.wrap[path]; wrap != nil {
			h = wrap(h)
		}
		rt.mux.Handle(path, h)
	}
	return rt.mux
}

// pageParams reads the limit and cursor of a paginated listing.
func pageParams(r *http.Request) (limit int, after int64, err error) {
	return pageParamsUpTo(r, defaultPageLimit, maxPageLimit)
}

// pageParamsUpTo is pageParams with a listing's own default and largest
// limit.
func pageParamsUpTo(r *http.Request, def, most int) (limit int, after int64, err error) {
	limit = def
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > most {
			return 0, 0, errBadRequest("limit must be an integer from 1 to %d", most)
		}
		limit = n
	}
	if c := r.URL.Query().Get("cursor"); c != "" {
		after, err = decodeCursor(c)
		if err != nil {
			return 0, 0, errBadRequest("bad cursor")
		}
	}
	return limit, after, nil
}

const (
	defaultPageLimit = 50
	maxPageLimit     = 500
)

// Cursors are opaque to clients: the position of the last row returned.
func encodeCursor(n int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("c" + strconv.FormatInt(n, 10)))
}

func decodeCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 2 || b[0] != 'c' {
		return 0, errors.New("bad cursor")
	}
	n, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("bad cursor")
	}
	return n, nil
}

// decodeStrict decodes one JSON document of what into v: unknown fields,
// wrong types and trailing data are all errors. The error's text says what
// is wrong in the API's words (no Go type names), so a caller may send it.
func decodeStrict(r io.Reader, what string, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &decodeError{msg: what + ": " + jsonerr.Describe(err), err: err}
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: trailing data", what)
	}
	return nil
}

// decodeError is a document that did not decode. Its text is for the
// client; it wraps the decoder's error for errors.As (a body too large).
type decodeError struct {
	msg string
	err error
}

func (e *decodeError) Error() string { return e.msg }
func (e *decodeError) Unwrap() error { return e.err }

// sourceReader keeps the error of its reader, so that a copy failing can
// tell the client's fault (a body cut short: 400) from the hub's own (a
// full disk: 500, logged, its text never sent).
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}
