package cloudlink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// testDoc returns n pseudo-random bytes and their sha256 in hex.
func testDoc(n int) ([]byte, string) {
	r := rand.New(rand.NewPCG(11, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

// fetchJobAnswer makes the hub answer every FetchJob with fr.
func fetchJobAnswer(hub *fakeHub, fr func(req protocol.FetchJobRequest) (protocol.FetchJobResponse, error)) {
	hub.Handle(protocol.ActionFetchJob, func(ctx context.Context, p json.RawMessage) (any, error) {
		var req protocol.FetchJobRequest
		if err := protocol.Decode(p, &req); err != nil {
			return nil, err
		}
		return fr(req)
	})
}

// download records what the hub's download endpoint was asked.
type download struct {
	mu   sync.Mutex
	path []string
	auth []string
}

func (d *download) record(r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.path = append(d.path, r.URL.RequestURI())
	d.auth = append(d.auth, r.Header.Get("Authorization"))
}

func (d *download) last() (string, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.path) == 0 {
		return "", ""
	}
	return d.path[len(d.path)-1], d.auth[len(d.auth)-1]
}

func TestFetchStreamsLargeDocument(t *testing.T) {
	const size = 5 << 20
	doc, sum := testDoc(size)
	hub := newFakeHub(t, hubOpts{interval: 30})
	fetchJobAnswer(hub, func(req protocol.FetchJobRequest) (protocol.FetchJobResponse, error) {
		if req.JobID != "job1" || req.Username != "alice" {
			return protocol.FetchJobResponse{}, &protocol.Error{Code: protocol.CodeGenericError, Description: "unknown job"}
		}
		return protocol.FetchJobResponse{URL: "/dl/job1", Token: "dl-token", Size: size, SHA256: sum, Format: "application/pdf"}, nil
	})
	// The hub sends the first MiB, then holds the rest until the agent has
	// read it: a client that buffered the whole body would never get there.
	gate := make(chan struct{})
	var dl download
	hub.mux.HandleFunc("/dl/", func(w http.ResponseWriter, r *http.Request) {
		dl.record(r)
		if r.Header.Get("Authorization") != "Bearer dl-token" {
			http.Error(w, `{"error":"bad token"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = w.Write(doc[:1<<20])
		w.(http.Flusher).Flush()
		select {
		case <-gate:
		case <-time.After(10 * time.Second):
			return
		}
		_, _ = w.Write(doc[1<<20:])
	})
	l, _ := startLink(t, Config{HubURL: hub.URL()})
	testutil.WaitFor(t, 5*time.Second, "online", l.Online)

	d, err := l.Fetch(context.Background(), protocol.FetchJobRequest{JobID: "job1", Username: "alice"})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	defer d.Body.Close()
	if d.Size != size || d.Format != "application/pdf" || d.SHA256 != sum {
		t.Errorf("document = size %d format %q sha %q", d.Size, d.Format, d.SHA256)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, d.Body, 1<<20); err != nil {
		t.Fatalf("read first MiB: %v", err)
	}
	close(gate)
	n, err := io.Copy(h, d.Body)
	if err != nil {
		t.Fatalf("read rest: %v", err)
	}
	if n+1<<20 != size || hex.EncodeToString(h.Sum(nil)) != sum {
		t.Errorf("got %d bytes with sha256 %x, want %d bytes with %s", n+1<<20, h.Sum(nil), size, sum)
	}
	if path, auth := dl.last(); path != "/dl/job1" || auth != "Bearer dl-token" {
		t.Errorf("download request = %q with %q", path, auth)
	}
}

func TestFetchResolvesURLs(t *testing.T) {
	doc, sum := testDoc(1000)
	tests := []struct {
		name     string
		prefix   string
		url      func(hub *fakeHub) string
		wantPath string
	}{
		{"relative", "", func(*fakeHub) string { return "/dl/a" }, "/dl/a"},
		{"relative without slash", "", func(*fakeHub) string { return "dl/b" }, "/dl/b"},
		{"relative with query", "", func(*fakeHub) string { return "/dl/c?part=1" }, "/dl/c?part=1"},
		{"absolute", "", func(h *fakeHub) string { return h.srv.URL + "/dl/d" }, "/dl/d"},
		{"relative under a prefix", "/hub", func(*fakeHub) string { return "/dl/e" }, "/hub/dl/e"},
		{"absolute under a prefix", "/hub", func(h *fakeHub) string { return h.URL() + "/dl/f" }, "/hub/dl/f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newFakeHub(t, hubOpts{interval: 30, prefix: tt.prefix})
			fetchJobAnswer(hub, func(protocol.FetchJobRequest) (protocol.FetchJobResponse, error) {
				return protocol.FetchJobResponse{URL: tt.url(hub), Token: "tok", Size: int64(len(doc)), SHA256: sum}, nil
			})
			var dl download
			hub.mux.HandleFunc(tt.prefix+"/dl/", func(w http.ResponseWriter, r *http.Request) {
				dl.record(r)
				_, _ = w.Write(doc)
			})
			l, _ := startLink(t, Config{HubURL: hub.URL()})
			testutil.WaitFor(t, 5*time.Second, "online", l.Online)
			d, err := l.Fetch(context.Background(), protocol.FetchJobRequest{JobID: "j", Username: "u"})
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			got, err := io.ReadAll(d.Body)
			_ = d.Body.Close()
			if err != nil || len(got) != len(doc) {
				t.Fatalf("read %d bytes, err %v", len(got), err)
			}
			if path, auth := dl.last(); path != tt.wantPath || auth != "Bearer tok" {
				t.Errorf("download request = %q with %q, want %q", path, auth, tt.wantPath)
			}
		})
	}
}

func TestFetchDetectsBadDownloads(t *testing.T) {
	doc, sum := testDoc(64 << 10)
	_, otherSum := testDoc(10)
	// chunked sends body without a Content-Length, so only the verifier can
	// notice a short or long document.
	chunked := func(b []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
			_, _ = w.Write(b)
		}
	}
	tests := []struct {
		name     string
		announce protocol.FetchJobResponse
		fetchErr error // the hub's answer to FetchJob
		serve    http.HandlerFunc
		wantOpen string // error of Fetch itself
		wantRead string // error at the end of the body
	}{
		{
			name:     "truncated",
			announce: protocol.FetchJobResponse{Size: int64(len(doc)), SHA256: sum},
			serve:    chunked(doc[:len(doc)-1000]),
			wantRead: "truncated",
		},
		{
			name:     "too long",
			announce: protocol.FetchJobResponse{Size: int64(len(doc)), SHA256: sum},
			serve:    chunked(append(append([]byte{}, doc...), 'x')),
			wantRead: "exceeds",
		},
		{
			name:     "wrong sha256",
			announce: protocol.FetchJobResponse{Size: int64(len(doc)), SHA256: otherSum},
			serve:    chunked(doc),
			wantRead: "sha256",
		},
		{
			name:     "altered byte",
			announce: protocol.FetchJobResponse{Size: int64(len(doc)), SHA256: sum},
			serve: func(w http.ResponseWriter, r *http.Request) {
				b := append([]byte{}, doc...)
				b[100] ^= 1
				_, _ = w.Write(b)
			},
			wantRead: "sha256",
		},
		{
			name:     "content length differs",
			announce: protocol.FetchJobResponse{Size: int64(len(doc)), SHA256: sum},
			serve:    func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(doc[:10]) },
			wantOpen: "download is 10 bytes",
		},
		{
			name:     "hub error as JSON",
			announce: protocol.FetchJobResponse{Size: int64(len(doc)), SHA256: sum},
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusGone)
				_, _ = io.WriteString(w, `{"error":"download token expired"}`)
			},
			wantOpen: "410 Gone: download token expired",
		},
		{
			name:     "hub error as the hub's JSON",
			announce: protocol.FetchJobResponse{Size: int64(len(doc)), SHA256: sum},
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"error":{"code":"unauthorized","message":"download token invalid or expired"}}`+"\n")
			},
			wantOpen: "401 Unauthorized: unauthorized: download token invalid or expired",
		},
		{
			name:     "hub error as text",
			announce: protocol.FetchJobResponse{Size: int64(len(doc)), SHA256: sum},
			serve: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "no such document", http.StatusNotFound)
			},
			wantOpen: "404 Not Found: no such document",
		},
		{
			name:     "invalid announced sha256",
			announce: protocol.FetchJobResponse{Size: int64(len(doc)), SHA256: "abc"},
			serve:    chunked(doc),
			wantOpen: "invalid sha256",
		},
		{
			name:     "hub refuses FetchJob",
			fetchErr: &protocol.Error{Code: protocol.CodeGenericError, Description: "job not yours"},
			wantOpen: "job not yours",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newFakeHub(t, hubOpts{interval: 30})
			fetchJobAnswer(hub, func(protocol.FetchJobRequest) (protocol.FetchJobResponse, error) {
				fr := tt.announce
				fr.URL, fr.Token = "/dl/x", "tok"
				return fr, tt.fetchErr
			})
			if tt.serve != nil {
				hub.mux.HandleFunc("/dl/", tt.serve)
			}
			l, _ := startLink(t, Config{HubURL: hub.URL()})
			testutil.WaitFor(t, 5*time.Second, "online", l.Online)
			d, err := l.Fetch(context.Background(), protocol.FetchJobRequest{JobID: "jx", Username: "u"})
			if tt.wantOpen != "" {
				if err == nil || !containsAll(err.Error(), tt.wantOpen, "jx") {
					t.Fatalf("Fetch err = %v, want %q", err, tt.wantOpen)
				}
				if tt.fetchErr != nil {
					var perr *protocol.Error
					if !errors.As(err, &perr) {
						t.Errorf("hub refusal is not a *protocol.Error: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			defer d.Body.Close()
			_, err = io.ReadAll(d.Body)
			if err == nil || !strings.Contains(err.Error(), tt.wantRead) {
				t.Fatalf("reading the body: err = %v, want %q", err, tt.wantRead)
			}
			// The failure sticks: a second read does not turn into io.EOF.
			if _, err2 := d.Body.Read(make([]byte, 1)); err2 == nil || errors.Is(err2, io.EOF) {
				t.Errorf("second read err = %v", err2)
			}
		})
	}
}

func TestFetchDeviceTokenOnlyToTheHub(t *testing.T) {
	doc, sum := testDoc(100)
	other := newFakeHub(t, hubOpts{}) // another origin holding the document
	var otherDL download
	other.mux.HandleFunc("/dl/", func(w http.ResponseWriter, r *http.Request) {
		otherDL.record(r)
		_, _ = w.Write(doc)
	})
	hub := newFakeHub(t, hubOpts{interval: 30})
	var dl download
	hub.mux.HandleFunc("/dl/", func(w http.ResponseWriter, r *http.Request) {
		dl.record(r)
		_, _ = w.Write(doc)
	})
	fetchJobAnswer(hub, func(req protocol.FetchJobRequest) (protocol.FetchJobResponse, error) {
		u := "/dl/" + req.JobID
		if req.JobID == "elsewhere" {
			u = other.srv.URL + "/dl/x"
		}
		return protocol.FetchJobResponse{URL: u, Size: int64(len(doc)), SHA256: sum}, nil
	})
	l, _ := startLink(t, Config{HubURL: hub.URL(), DeviceToken: "dev"})
	testutil.WaitFor(t, 5*time.Second, "online", l.Online)
	for _, job := range []string{"here", "elsewhere"} {
		d, err := l.Fetch(context.Background(), protocol.FetchJobRequest{JobID: job, Username: "u"})
		if err != nil {
			t.Fatalf("Fetch %s: %v", job, err)
		}
		if _, err := io.ReadAll(d.Body); err != nil {
			t.Fatalf("read %s: %v", job, err)
		}
		_ = d.Body.Close()
	}
	if _, auth := dl.last(); auth != "Bearer dev" {
		t.Errorf("hub download Authorization = %q, want the device token", auth)
	}
	if path, auth := otherDL.last(); path != "/dl/x" || auth != "" {
		t.Errorf("foreign download %q got Authorization %q, want none", path, auth)
	}
}

// TestFetchWithholdsTheEndOfABadDownload: a download of the announced
// length whose bytes are not the announced ones fails before its last byte
// is handed over, whatever the reader's buffer, so that a printer streamed
// from it never holds a complete document (issue 8, point 5).
func TestFetchWithholdsTheEndOfABadDownload(t *testing.T) {
	doc, sum := testDoc(64 << 10)
	altered := func(i int) []byte {
		b := append([]byte{}, doc...)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name  string
		serve []byte
		sum   string
	}{
		{"altered first byte", altered(0), sum},
		{"altered last byte", altered(len(doc) - 1), sum},
		{"another document's sha256", doc, hex.EncodeToString(make([]byte, sha256.Size))},
		{"one byte too many", append(append([]byte{}, doc...), 'x'), sum},
	}
	for _, tt := range tests {
		for _, buf := range []int{1, 1000, len(doc), len(doc) + 1} {
			t.Run(fmt.Sprintf("%s/read %d", tt.name, buf), func(t *testing.T) {
				hub := newFakeHub(t, hubOpts{interval: 30})
				fetchJobAnswer(hub, func(protocol.FetchJobRequest) (protocol.FetchJobResponse, error) {
					return protocol.FetchJobResponse{URL: "/dl/x", Token: "tok", Size: int64(len(doc)), SHA256: tt.sum}, nil
				})
				hub.mux.HandleFunc("/dl/", func(w http.ResponseWriter, r *http.Request) {
					w.(http.Flusher).Flush() // chunked: no Content-Length to check first
					_, _ = w.Write(tt.serve)
				})
				l, _ := startLink(t, Config{HubURL: hub.URL()})
				testutil.WaitFor(t, 5*time.Second, "online", l.Online)
				d, err := l.Fetch(context.Background(), protocol.FetchJobRequest{JobID: "jx", Username: "u"})
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				defer d.Body.Close()
				var got int64
				p := make([]byte, buf)
				for {
					n, err := d.Body.Read(p)
					got += int64(n)
					if err == io.EOF {
						t.Fatalf("a bad download read to io.EOF after %d bytes", got)
					}
					if err != nil {
						break
					}
				}
				if got >= int64(len(doc)) {
					t.Fatalf("%d bytes handed over before the error; the whole document (%d) was", got, len(doc))
				}
			})
		}
	}
}
