package ipp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	goipp "github.com/phin1x/go-ipp"
)

// maxResponse bounds an IPP response. A Get-Printer-Attributes "all" of a
// large MFP is some tens of KiB; nothing this client asks for comes near.
const maxResponse = 4 << 20

// Options configures a Client. The zero value is usable.
type Options struct {
	// HTTPClient carries the requests. nil means a client that verifies
	// the printer's TLS certificate against the system roots; pass one
	// with its own RootCAs for a printer with a private CA.
	HTTPClient *http.Client
	// User is the requesting-user-name of requests that name no user;
	// "tessera" when empty.
	User   string
	Logger *slog.Logger
	// PollInterval is how often Wait asks for the job's state; 500 ms
	// when zero.
	PollInterval time.Duration
}

// Client talks to one printer. It is safe for concurrent use.
type Client struct {
	printerURI string // the printer-uri attribute: ipp:// or ipps://
	endpoint   string // where requests go: http:// or https://
	hc         *http.Client
	user       string
	log        *slog.Logger
	poll       time.Duration
	busyWait   time.Duration // first wait before Print tries again; see backoff
	reqID      atomic.Int32
}

// New returns a client for the printer at printerURI: ipp://, ipps://
// (port 631 unless given), http:// or https://. ipps and https are TLS,
// verified.
func New(printerURI string, opts Options) (*Client, error) {
	u, err := url.Parse(printerURI)
	if err != nil {
		return nil, fmt.Errorf("printer URI: %w", err)
	}
	if u.User != nil {
		return nil, errors.New("printer URI: credentials in the URI are not supported")
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("printer URI %q: no host", printerURI)
	}
	var httpScheme, ippScheme string
	switch strings.ToLower(u.Scheme) {
	case "ipp", "http":
		httpScheme, ippScheme = "http", "ipp"
	case "ipps", "https":
		httpScheme, ippScheme = "https", "ipps"
	default:
		return nil, fmt.Errorf("printer URI %q: scheme must be ipp, ipps, http or https", printerURI)
	}
	host := u.Host
	if u.Port() == "" && (u.Scheme == "ipp" || u.Scheme == "ipps") {
		host = net.JoinHostPort(u.Hostname(), "631")
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	// url.URL re-escapes what Parse decoded, such as an IPv6 zone.
	endpoint := url.URL{Scheme: httpScheme, Host: host, Path: path, RawPath: u.RawPath}
	printer := endpoint
	printer.Scheme = ippScheme
	c := &Client{
		printerURI: printer.String(),
		endpoint:   endpoint.String(),
		hc:         opts.HTTPClient,
		user:       opts.User,
		log:        opts.Logger,
		poll:       opts.PollInterval,
		busyWait:   time.Second,
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	if c.user == "" {
		c.user = "tessera"
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.poll <= 0 {
		c.poll = 500 * time.Millisecond
	}
	return c, nil
}

// URI returns the printer-uri the client sends.
func (c *Client) URI() string { return c.printerURI }

// defaultHTTPClient verifies TLS with the system roots. It uses no proxy:
// the printer is on the local network, and a proxy in the environment is
// there for the hub connection.
func defaultHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: noRedirects,
	}
}

// noRedirects: an IPP printer has no reason to redirect, and following
// one could turn https into http or re-send to another host.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// request builds a request with the operation attributes every operation
// carries.
func (c *Client) request(op int16, user string) *goipp.Request {
	r := goipp.NewRequest(op, c.reqID.Add(1))
	r.OperationAttributes[goipp.AttributePrinterURI] = c.printerURI
	r.OperationAttributes[goipp.AttributeRequestingUserName] = user
	return r
}

// do sends an encoded request, followed by doc (docSize bytes) when doc is
// not nil, and decodes the response. A response with an error status
// comes back as a *StatusError.
func (c *Client) do(ctx context.Context, op string, head []byte, doc io.Reader, docSize int64) (*goipp.Response, error) {
	var body io.Reader = bytes.NewReader(head)
	if doc != nil {
		// A MultiReader has no GetBody, so the transport cannot silently
		// resend a document it has partly consumed.
		body = io.MultiReader(body, doc)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req.ContentLength = int64(len(head)) + docSize
	// No "Expect: 100-continue": the printer can only decide after reading
	// the IPP request, which is in the body, so waiting for a 100 only
	// costs the ExpectContinueTimeout (ippeveprinter: a second per job).
	req.Header.Set("Content-Type", goipp.ContentTypeIPP)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, &httpStatusError{op: op, code: resp.StatusCode, status: resp.Status}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read response: %w", op, err)
	}
	if len(data) > maxResponse {
		return nil, fmt.Errorf("%s: response larger than %d bytes", op, maxResponse)
	}
	r, err := decodeResponse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if !success(r.StatusCode) {
		return r, &StatusError{Op: op, Code: r.StatusCode, Message: firstString(r.OperationAttributes, "status-message")}
	}
	return r, nil
}

// httpStatusError is an HTTP answer other than 200 OK: the printer's web
// server refused the request before IPP was involved.
type httpStatusError struct {
	op     string
	code   int
	status string
}

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("%s: printer answered HTTP %s", e.op, e.status)
}

// decodeResponse decodes with go-ipp, turning its panics on malformed
// input (negative lengths reach make) into errors.
func decodeResponse(data []byte) (r *goipp.Response, err error) {
	defer func() {
		if v := recover(); v != nil {
			r, err = nil, fmt.Errorf("malformed IPP response: %v", v)
		}
	}()
	if len(data) < 9 {
		return nil, errors.New("malformed IPP response: too short")
	}
	r, err = goipp.NewResponseDecoder(bytes.NewReader(data)).Decode(nil)
	if err != nil {
		return nil, fmt.Errorf("malformed IPP response: %w", err)
	}
	return r, nil
}

// encodeRequest encodes r and appends extra keyword attributes to its last
// group, the job-attributes group when job is true. go-ipp encodes only
// attributes its tag table knows, and print-color-mode is not among them.
func encodeRequest(r *goipp.Request, job bool, extra [][2]string) ([]byte, error) {
	hadJobGroup := len(r.JobAttributes) > 0
	b, err := r.Encode()
	if err != nil {
		return nil, err
	}
	if len(extra) == 0 {
		return b, nil
	}
	if len(b) == 0 || b[len(b)-1] != byte(goipp.TagDelimiterEnd) || len(r.PrinterAttributes) > 0 {
		return nil, errors.New("unexpected request encoding")
	}
	b = b[:len(b)-1]
	if job && !hadJobGroup {
		b = append(b, byte(goipp.TagDelimiterJob))
	}
	for _, kv := range extra {
		if len(kv[0]) > 0xffff || len(kv[1]) > 0xffff {
			return nil, errors.New("attribute too long")
		}
		b = append(b, byte(goipp.TagKeyword), byte(len(kv[0])>>8), byte(len(kv[0])))
		b = append(b, kv[0]...)
		b = append(b, byte(len(kv[1])>>8), byte(len(kv[1])))
		b = append(b, kv[1]...)
	}
	return append(b, byte(goipp.TagDelimiterEnd)), nil
}

// Attribute accessors over go-ipp's decoded values.

func firstString(a goipp.Attributes, name string) string {
	if v := a[name]; len(v) > 0 {
		if s, ok := v[0].Value.(string); ok {
			return s
		}
	}
	return ""
}

func allStrings(a goipp.Attributes, name string) []string {
	var out []string
	for _, v := range a[name] {
		if s, ok := v.Value.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func firstInt(a goipp.Attributes, name string) (int, bool) {
	if v := a[name]; len(v) > 0 {
		if n, ok := v[0].Value.(int); ok {
			return n, true
		}
	}
	return 0, false
}

func firstBool(a goipp.Attributes, name string) bool {
	if v := a[name]; len(v) > 0 {
		if b, ok := v[0].Value.(bool); ok {
			return b
		}
	}
	return false
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
