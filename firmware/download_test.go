package firmware

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// bundleServer serves content as http.ServeContent does (Range, If-Range
// with the ETag), and cuts the first answer after cut bytes when cut > 0.
type bundleServer struct {
	mu      sync.Mutex
	content []byte
	etag    string
	cut     int
	ranges  []string
}

func (s *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	content, etag, cut := s.content, s.etag, s.cut
	s.cut = 0
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	s.mu.Unlock()
	if cut > 0 {
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		w.Write(content[:cut]) // the connection ends short
		return
	}
	w.Header().Set("ETag", etag)
	http.ServeContent(w, r, "b.tar", time.Time{}, bytes.NewReader(content))
}

// A download cut in the middle resumes where it stopped, and the file is
// whole and identical; a file changed on the server meanwhile starts
// again.
func TestDownloadResumes(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	srv := &bundleServer{content: content, etag: `"v1"`, cut: 300_000}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	path := filepath.Join(t.TempDir(), "b.tar")

	err := Download(t.Context(), ts.Client(), ts.URL, path, 2<<20)
	var de *DownloadError
	if !errors.As(err, &de) || !de.Temporary {
		t.Fatalf("a cut download: %v, want a temporary error", err)
	}
	if st, err := os.Stat(path + ".partial"); err != nil || st.Size() != 300_000 {
		t.Fatalf("partial: %v %v", st, err)
	}
	if err := Download(t.Context(), ts.Client(), ts.URL, path, 2<<20); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, content) {
		t.Errorf("%d bytes, not identical to the %d served", len(got), len(content))
	}
	if srv.ranges[1] != "bytes=300000-" {
		t.Errorf("the second request asked for %q", srv.ranges[1])
	}

	// Cut again; the server's file changes before the resume.
	os.Remove(path)
	srv.cut = 100_000
	_ = Download(t.Context(), ts.Client(), ts.URL, path, 2<<20)
	srv.content, srv.etag = bytes.Repeat([]byte("new!"), 1000), `"v2"`
	if err := Download(t.Context(), ts.Client(), ts.URL, path, 2<<20); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, srv.content) {
		t.Errorf("after a change on the server: %d bytes, want the new file's %d", len(got), len(srv.content))
	}
}

func TestDownloadErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		size      int
		max       int64
		temporary bool
	}{
		{"not found", http.StatusNotFound, 0, 100, false},
		{"forbidden", http.StatusForbidden, 0, 100, false},
		{"busy", http.StatusServiceUnavailable, 0, 100, true},
		{"too many", http.StatusTooManyRequests, 0, 100, true},
		{"too large", http.StatusOK, 1000, 100, false},
	}
	for _, tc := range tests {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.status != http.StatusOK {
				http.Error(w, "no", tc.status)
				return
			}
			w.Write(bytes.Repeat([]byte("x"), tc.size))
		}))
		path := filepath.Join(t.TempDir(), "b.tar")
		err := Download(t.Context(), ts.Client(), ts.URL, path, tc.max)
		var de *DownloadError
		if !errors.As(err, &de) || de.Temporary != tc.temporary {
			t.Errorf("%s: %v, want temporary %v", tc.name, err, tc.temporary)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s: the file exists", tc.name)
		}
		ts.Close()
	}
}
