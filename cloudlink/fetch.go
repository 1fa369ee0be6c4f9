package cloudlink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/tessera-print/tessera/protocol"
)

// Document is a job's document being downloaded from the hub. Body streams
// it and fails at the end, instead of returning io.EOF, when the bytes do not
// match the announced Size and SHA256. The caller closes Body.
type Document struct {
	Body   io.ReadCloser
	Size   int64
	Format string
	SHA256 string
	// ClaimID is the hub's claim on the job made by this fetch; every
	// status about this attempt carries it.
	ClaimID string
}

// FetchError is a fetch that failed after the hub granted it: the job's
// current claim is then ClaimID, which the attempt's statuses must name.
type FetchError struct {
	ClaimID string
	Err     error
}

func (e *FetchError) Error() string { return e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

// FetchClaim is the claim a failed fetch made (see FetchError), "" if none.
func FetchClaim(err error) string {
	var ferr *FetchError
	if errors.As(err, &ferr) {
		return ferr.ClaimID
	}
	return ""
}

// Fetch asks the hub for a one-time download of a job's document and opens
// it. ctx bounds the whole download, reading the body included.
// freq.Attempt names the release attempt (unique per attempt): a fetch again
// within it gets the attempt's claim back; freq.LoginToken is the session's
// that released the job.
func (l *Link) Fetch(ctx context.Context, freq protocol.FetchJobRequest) (*Document, error) {
	jobID := freq.JobID
	var fr protocol.FetchJobResponse
	if err := l.Call(ctx, protocol.ActionFetchJob, freq, &fr); err != nil {
		return nil, fmt.Errorf("fetch job %s: %w", jobID, err)
	}
	// Past this point the hub has made the fetch's claim the job's
	// current one: a failure says so, for the attempt's status to name it.
	d, err := l.download(ctx, "fetch job "+jobID, jobID, fr)
	if err != nil {
		return nil, &FetchError{ClaimID: fr.ClaimID, Err: err}
	}
	return d, nil
}

// download opens the document a FetchJob or FetchLeased answer announces;
// what names the call in errors.
func (l *Link) download(ctx context.Context, what, jobID string, fr protocol.FetchJobResponse) (*Document, error) {
	want, err := hex.DecodeString(fr.SHA256)
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("%s: hub announced an invalid sha256 %q", what, fr.SHA256)
	}
	if fr.Size < 0 {
		return nil, fmt.Errorf("%s: hub announced a negative size %d", what, fr.Size)
	}
	u, err := l.resolve(fr.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case fr.Token != "":
		req.Header.Set("Authorization", "Bearer "+fr.Token)
	case l.DeviceToken() != "" && sameOrigin(u, l.base):
		// The device token is for the hub only, never for a host it points to.
		req.Header.Set("Authorization", "Bearer "+l.DeviceToken())
	}
	resp, err := l.client.Do(req)
	if err != nil {
		// The URL may carry a token in its query: name only its path.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("%s: GET %s: %w", what, u.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := bodySnippet(resp.Body)
		_ = resp.Body.Close()
		return nil, fmt.Errorf("%s: hub answered %s%s", what, resp.Status, msg)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != fr.Size {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("%s: download is %d bytes, hub announced %d", what, resp.ContentLength, fr.Size)
	}
	return &Document{
		Body:    &verifier{body: resp.Body, h: sha256.New(), size: fr.Size, sum: want, jobID: jobID},
		Size:    fr.Size,
		Format:  fr.Format,
		SHA256:  strings.ToLower(fr.SHA256),
		ClaimID: fr.ClaimID,
	}, nil
}

// FetchLeased opens the document of a lease of this agent
// (docs/protocol.md, "Leases"): no login, the lease is the authority; the
// document's ClaimID is the lease's claim. ctx bounds the whole download.
func (l *Link) FetchLeased(ctx context.Context, leaseID, jobID string) (*Document, error) {
	var fr protocol.FetchJobResponse
	if err := l.Call(ctx, protocol.ActionFetchLeased, protocol.FetchLeasedRequest{LeaseID: leaseID}, &fr); err != nil {
		return nil, fmt.Errorf("fetch lease %s: %w", leaseID, err)
	}
	return l.download(ctx, "fetch lease "+leaseID, jobID, fr)
}

// resolve makes a download URL absolute. A relative one lives under the hub's
// base URL, prefix included, the same way the agent endpoint does.
func (l *Link) resolve(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("hub gave no download URL")
	}
	ref, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("download URL: %w", err)
	}
	var u *url.URL
	switch {
	case ref.IsAbs():
		u = ref
	case ref.Host != "":
		u = l.base.ResolveReference(ref)
	default:
		c := *l.base
		c.Path = l.base.Path + "/" + strings.TrimPrefix(ref.Path, "/")
		c.RawPath = ""
		c.RawQuery = ref.RawQuery
		u = &c
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("download URL scheme %q is not http or https", u.Scheme)
	}
	return u, nil
}

func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && strings.EqualFold(a.Host, b.Host)
}

// verifier passes the body through while counting and hashing it, and
// fails instead of returning io.EOF when the document is not the announced
// one. It holds back the bytes of the read that reaches the announced size
// until the body has ended and the hash matched: a reader that hands what
// it was given on to a printer (as IPP streaming does) must never give it
// the whole of an altered document, not even with an error beside it.
type verifier struct {
	body  io.ReadCloser
	h     hash.Hash
	n     int64
	size  int64
	sum   []byte
	jobID string
	err   error
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.body.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	switch {
	case v.n > v.size:
		v.err = fmt.Errorf("fetch job %s: download exceeds the announced %d bytes", v.jobID, v.size)
		return 0, v.err
	case v.n == v.size:
		// The last bytes go out only once the body is known to end here
		// and to be the announced document.
		if v.err = v.verifyEnd(err); v.err != io.EOF {
			return 0, v.err
		}
		return n, nil
	case errors.Is(err, io.EOF):
		v.err = fmt.Errorf("fetch job %s: download truncated: %d of %d bytes", v.jobID, v.n, v.size)
		return 0, v.err
	case err != nil:
		v.err = fmt.Errorf("fetch job %s: read download: %w", v.jobID, err)
		return 0, v.err
	}
	return n, nil
}

// verifyEnd is called once the announced size was read, with the error of
// that read: it makes sure the body ends there and checks the hash. It
// returns io.EOF for the announced document, else why it is not.
func (v *verifier) verifyEnd(err error) error {
	if err == nil {
		var one [1]byte
		var m int
		m, err = io.ReadFull(v.body, one[:])
		if m > 0 {
			return fmt.Errorf("fetch job %s: download exceeds the announced %d bytes", v.jobID, v.size)
		}
	}
	if !errors.Is(err, io.EOF) {
		return fmt.Errorf("fetch job %s: read download: %w", v.jobID, err)
	}
	if got := v.h.Sum(nil); !bytes.Equal(got, v.sum) {
		return fmt.Errorf("fetch job %s: sha256 %x differs from the announced %x", v.jobID, got, v.sum)
	}
	return io.EOF
}

func (v *verifier) Close() error { return v.body.Close() }

// errorMessage extracts a short, printable message from an error body: the
// hub's {"error": {"code", "message"}}, a plain {"error": "..."} or
// {"message": "..."}, else the text itself.
func errorMessage(b []byte) string {
	var obj struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(b, &obj) == nil {
		var text string
		var detail struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		switch {
		case json.Unmarshal(obj.Error, &text) == nil && text != "":
			b = []byte(text)
		case json.Unmarshal(obj.Error, &detail) == nil && detail.Message != "":
			b = []byte(detail.Message)
			if detail.Code != "" {
				b = []byte(detail.Code + ": " + detail.Message)
			}
		case obj.Message != "":
			b = []byte(obj.Message)
		}
	}
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, string(b))
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
