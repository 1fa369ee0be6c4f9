package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// putReceiver answers PUTs with the statuses it is given, in turn (then
// 200), and keeps the last body it accepted.
type putReceiver struct {
	mu       sync.Mutex
	statuses []int
	calls    int
	body     []byte
}

func (p *putReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if r.Method != http.MethodPut || err != nil || r.ContentLength != int64(len(b)) {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if len(p.statuses) > 0 {
		code := p.statuses[0]
		p.statuses = p.statuses[1:]
		w.WriteHeader(code)
		return
	}
	p.body = b
}

// TestUploadLogs: the bundle goes up with PUT; a temporary failure (503,
// a dropped connection) is tried again, a refusal (403) is not, and the
// error names the host and the status, never the URL's signed query.
func TestUploadLogs(t *testing.T) {
	bundle := []byte("a bundle's bytes")
	sum := sha256.Sum256(bundle)
	cases := []struct {
		name      string
		statuses  []int
		wantErr   string // "" completes
		wantCalls int
	}{
		{"at once", nil, "", 1},
		{"after two 503", []int{503, 503}, "", 3},
		{"too many 503", []int{503, 503, 503, 503}, "failed after 4 attempt(s): the server answered 503 Service Unavailable", 4},
		{"refused", []int{403}, "failed after 1 attempt(s): the server answered 403 Forbidden", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recv := &putReceiver{statuses: c.statuses}
			srv := httptest.NewServer(recv)
			defer srv.Close()
			var mu sync.Mutex
			var phases []string
			u := &logUploader{
				bundle: func(_ context.Context, w io.Writer) error { _, err := w.Write(bundle); return err },
				dir:    t.TempDir(),
				client: func(*url.URL) *http.Client { return srv.Client() },
				progress: func(_ context.Context, id, phase string, _ int) {
					mu.Lock()
					phases = append(phases, id+":"+phase)
					mu.Unlock()
				},
				log: slog.New(slog.DiscardHandler),
				// Real timers, a millisecond: the retry's doubling is
				// what is tested, not the wait.
				firstWait: time.Millisecond,
			}
			payload, _ := json.Marshal(UploadLogsPayload{URL: srv.URL + "/b/diag.tar.gz?X-Signature=sig-SECRET"})
			res, err := u.run(context.Background(), protocol.TaskRequest{ID: "u1", Type: protocol.TaskUploadLogs, Payload: payload})
			if c.wantErr == "" {
				want := uploadResult{Bytes: int64(len(bundle)), SHA256: hex.EncodeToString(sum[:])}
				if err != nil || res != want || string(recv.body) != string(bundle) {
					t.Fatalf("run = %+v, %v; received %q", res, err, recv.body)
				}
			} else if err == nil || !strings.Contains(err.Error(), c.wantErr) || strings.Contains(err.Error(), "sig-SECRET") {
				t.Fatalf("run error %v, want %q without the URL's query", err, c.wantErr)
			}
			if recv.calls != c.wantCalls {
				t.Errorf("%d PUTs, want %d", recv.calls, c.wantCalls)
			}
			if strings.Join(phases, " ") != "u1:collecting u1:uploading" {
				t.Errorf("phases %v", phases)
			}
		})
	}
}

// TestUploadLogsRefusals: a bad URL, a bundle that cannot be collected and
// one past the cap fail without a PUT; a server that cannot be reached is
// tried uploadAttempts times.
func TestUploadLogsRefusals(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	cases := []struct {
		name, url, want string
		bundleErr       error
		max             int64 // the cap (0: the default)
	}{
		{"ftp", "ftp://example/x", "payload: url: want an http:// or https:// URL", nil, 0},
		{"no host", "http:///x", "payload: url", nil, 0},
		{"collect fails", "http://127.0.0.1:9/x", "collect the bundle: disk full", errors.New("disk full"), 0},
		{"unreachable", deadURL + "/x", "failed after 4 attempt(s)", nil, 0},
		{"past the cap", "http://127.0.0.1:9/x", "bundle of 17 bytes: past the cap of 16 bytes", nil, 16},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := &logUploader{
				bundle: func(_ context.Context, w io.Writer) error {
					if c.bundleErr != nil {
						return c.bundleErr
					}
					_, err := io.WriteString(w, "17 bytes of logs.")
					return err
				},
				dir:       t.TempDir(),
				client:    func(*url.URL) *http.Client { return http.DefaultClient },
				progress:  func(context.Context, string, string, int) {},
				log:       slog.New(slog.DiscardHandler),
				firstWait: time.Millisecond,
				maxBytes:  c.max,
			}
			payload, _ := json.Marshal(UploadLogsPayload{URL: c.url})
			_, err := u.run(context.Background(), protocol.TaskRequest{ID: "u2", Type: protocol.TaskUploadLogs, Payload: payload})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

// TestTaskProgressQueued: a phase report is a TaskStatus in progress in
// the outbox, one per phase, and wakes the sync.
func TestTaskProgressQueued(t *testing.T) {
	r := newBundleAgent(t)
	ctx := context.Background()
	r.taskProgress(ctx, "task-1", "collecting", 0)
	r.taskProgress(ctx, "task-1", "uploading", 50)
	r.taskProgress(ctx, "task-1", "uploading", 50) // a retry queues nothing more
	items, err := r.store.Pending(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		var st protocol.TaskStatusRequest
		if err := json.Unmarshal(it.Payload, &st); err != nil || st.ID != "task-1" || st.State != protocol.TaskInProgress {
			t.Fatalf("item %+v (%v)", it, err)
		}
		got = append(got, fmt.Sprintf("%s:%d", st.Phase, st.Progress))
	}
	if strings.Join(got, " ") != "collecting:0 uploading:50" {
		t.Errorf("queued %v", got)
	}
	select {
	case <-r.kick:
	default:
		t.Error("the sync was not woken")
	}
}
