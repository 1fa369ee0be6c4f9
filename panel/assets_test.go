package panel

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tessera-print/tessera/session"
)

// TestPageWeight: the page as one browser loads it — index.html, the
// scripts and style sheets, and the two largest catalogues (the device's
// and the person's language) — is at most 100,000 bytes
// uncompressed (the budget for printers' browsers).
func TestPageWeight(t *testing.T) {
	loaded, embedded := loadedWeight(t)
	t.Logf("loaded by one browser at most: %d bytes; embedded, every language: %d bytes", loaded, embedded)
	if loaded > maxPageBytes {
		t.Fatalf("the page weighs %d bytes uncompressed as one browser loads it, more than the %d allowed", loaded, maxPageBytes)
	}
}

// loadedWeight is the page's weight as one browser loads it at most, and
// the weight of every file embedded.
func loadedWeight(t testing.TB) (loaded, embedded int) {
	var catalogues []int
	err := fs.WalkDir(web, "web", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web, name)
		embedded += len(b)
		if strings.HasPrefix(name, "web/i18n/") {
			catalogues = append(catalogues, len(b))
		} else {
			loaded += len(b)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(catalogues)
	slices.Reverse(catalogues)
	for i := 0; i < len(catalogues) && i < maxCataloguesLoaded; i++ {
		loaded += catalogues[i]
	}
	return loaded, embedded
}

func newTestPanel() *Server {
	return New(&fakeSessions{view: session.View{State: "idle"}}, slog.New(slog.DiscardHandler))
}

// TestAssetsServed: every file under panel/web is served, index.html at /
// and the others under /static/, each with its type, no-cache and a strong
// ETag; index.html nowhere else.
func TestAssetsServed(t *testing.T) {
	srv := newTestPanel()
	err := fs.WalkDir(web, "web", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		want, err := fs.ReadFile(web, name)
		if err != nil {
			return err
		}
		path := staticPrefix + strings.TrimPrefix(name, "web/")
		if name == "web/index.html" {
			path = "/"
		}
		rec := send(srv, "GET", path, "")
		if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), want) {
			t.Errorf("GET %s: HTTP %d, %d bytes, want 200 and the %d bytes of %s", path, rec.Code, rec.Body.Len(), len(want), name)
		}
		h := rec.Header()
		if h.Get("Cache-Control") != "no-cache" || !strings.HasPrefix(h.Get("ETag"), `"`) || len(h.Get("ETag")) != 66 ||
			h.Get("Content-Type") == "" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: headers %v", path, h)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/static/index.html", "/static/", "/static/nope.js", "/index.html"} {
		if rec := send(srv, "GET", path, ""); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: HTTP %d, want 404", path, rec.Code)
		}
	}
}

// TestAssetCaching: 304 on a matching If-None-Match, gzip only when asked
// for, under an ETag of its own, and HEAD without a body.
func TestAssetCaching(t *testing.T) {
	body := []byte(strings.Repeat("function render(state) { return state; }\n", 50))
	page, err := loadAssets(fstest.MapFS{
		"index.html": {Data: []byte("<!doctype html><title>t</title>")},
		"app.js":     {Data: body},
		"tiny.json":  {Data: []byte("{}")},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestPanel()
	srv.page = page
	plain := send(srv, "GET", "/static/app.js", "")
	etag := plain.Header().Get("ETag")
	zipped := send(srv, "GET", "/static/app.js", "", "Accept-Encoding: deflate, gzip;q=0.8")
	zetag := zipped.Header().Get("ETag")
	if zipped.Header().Get("Content-Encoding") != "gzip" || zetag == etag || zipped.Header().Get("Vary") != "Accept-Encoding" {
		t.Fatalf("gzip answer: headers %v (plain ETag %s)", zipped.Header(), etag)
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("gunzipped body differs (%v)", err)
	}
	tests := []struct {
		name       string
		method     string
		path       string
		headers    []string
		wantStatus int
		wantGzip   bool
		wantBody   bool
	}{
		{"plain", "GET", "/static/app.js", nil, 200, false, true},
		{"gzip refused by q=0", "GET", "/static/app.js", []string{"Accept-Encoding: gzip;q=0"}, 200, false, true},
		{"gzip by *", "GET", "/static/app.js", []string{"Accept-Encoding: *"}, 200, true, true},
		{"not smaller, not gzipped", "GET", "/static/tiny.json", []string{"Accept-Encoding: gzip"}, 200, false, true},
		{"not modified", "GET", "/static/app.js", []string{"If-None-Match: " + etag}, 304, false, false},
		{"not modified, gzip", "GET", "/static/app.js", []string{"Accept-Encoding: gzip", "If-None-Match: \"x\", " + zetag}, 304, false, false},
		{"the plain tag does not stand for the gzip bytes", "GET", "/static/app.js", []string{"Accept-Encoding: gzip", "If-None-Match: " + etag}, 200, true, true},
		{"weak form matches", "GET", "/static/app.js", []string{"If-None-Match: W/" + etag}, 304, false, false},
		{"other tag", "GET", "/static/app.js", []string{`If-None-Match: "0000"`}, 200, false, true},
		{"head", "HEAD", "/static/app.js", nil, 200, false, false},
		{"index not modified", "GET", "/", []string{"If-None-Match: " + send(srv, "GET", "/", "").Header().Get("ETag")}, 304, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := send(srv, tc.method, tc.path, "", tc.headers...)
			if rec.Code != tc.wantStatus {
				t.Fatalf("HTTP %d, want %d", rec.Code, tc.wantStatus)
			}
			if gz := rec.Header().Get("Content-Encoding") == "gzip"; gz != tc.wantGzip {
				t.Errorf("Content-Encoding %q, want gzip %v", rec.Header().Get("Content-Encoding"), tc.wantGzip)
			}
			if (rec.Body.Len() > 0) != tc.wantBody {
				t.Errorf("body of %d bytes, want a body: %v", rec.Body.Len(), tc.wantBody)
			}
			if rec.Header().Get("ETag") == "" || rec.Header().Get("Cache-Control") != "no-cache" {
				t.Errorf("headers %v", rec.Header())
			}
		})
	}
}

// TestPagePolicy: the page may load and connect to the agent's own origin
// only, the websocket's ws: and wss: addresses named (older WebKit does
// not count them as 'self').
func TestPagePolicy(t *testing.T) {
	srv := New(&fakeSessions{view: session.View{State: "idle"}}, slog.New(slog.DiscardHandler),
		WithHosts([]string{"localhost", "127.0.0.1", "::1", "printer.lan"}))
	tests := []struct{ host, want string }{
		{"127.0.0.1:8631", "connect-src 'self' ws://127.0.0.1:8631 wss://127.0.0.1:8631;"},
		{"printer.lan", "connect-src 'self' ws://printer.lan wss://printer.lan;"},
		{"[::1]:8631", "connect-src 'self' ws://[::1]:8631 wss://[::1]:8631;"},
		{"LOCALHOST:8631", "connect-src 'self' ws://localhost:8631 wss://localhost:8631;"},
		// The guard lets a host with any port through: only digits reach
		// the policy.
		{"localhost:80;script-src *", "connect-src 'self' ws://localhost wss://localhost;"},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			rec := send(srv, "GET", "/", "", "Host: "+tc.host)
			csp := rec.Header().Get("Content-Security-Policy")
			if rec.Code != http.StatusOK || !strings.Contains(csp, tc.want) {
				t.Fatalf("HTTP %d, policy %q, want %q in it", rec.Code, csp, tc.want)
			}
			for _, part := range []string{"default-src 'self';", "object-src 'none';", "frame-ancestors 'none'", "script-src 'self';", "style-src 'self';"} {
				if !strings.Contains(csp, part) {
					t.Errorf("policy %q without %q", csp, part)
				}
			}
			if strings.Count(csp, "script-src") != 1 || strings.Contains(csp, "*") {
				t.Errorf("policy %q lets the Host header add sources", csp)
			}
		})
	}
}

func TestActivityTaps(t *testing.T) {
	fs := &fakeSessions{view: session.View{State: "active"}}
	srv := New(fs, slog.New(slog.DiscardHandler))
	if rec := send(srv, "POST", "/api/v1/activity", "{}", "Content-Type: application/json"); rec.Code != http.StatusNoContent {
		t.Fatalf("HTTP %d", rec.Code)
	}
	// A write that is not JSON is refused before it counts (guard.go).
	if rec := send(srv, "POST", "/api/v1/activity", "x", "Content-Type: text/plain"); rec.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain activity: HTTP %d", rec.Code)
	}
	if fs.taps != 1 {
		t.Errorf("%d taps reached the session, want 1", fs.taps)
	}
}

// TestPageHasNoInlineCode: the policy allows no inline script or style, so
// the page keeps all its code in /static/app.js and its styles in
// /static/style.css; an inline one would be blocked silently in the
// printer's browser.
func TestPageHasNoInlineCode(t *testing.T) {
	inline := regexp.MustCompile(`(?i)<script(\s[^>]*)?>\s*[^<\s]|<script(?:(?:\s+(?:type|defer|async)(?:="[^"]*")?)*)\s*>|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:`)
	err := fs.WalkDir(web, "web", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".html") {
			return err
		}
		b, err := fs.ReadFile(web, name)
		if m := inline.Find(b); m != nil {
			t.Errorf("%s has inline code the page's policy blocks: %q", name, m)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPageReferencesServed: every /static/ file the page names is served,
// so a renamed file cannot leave the page without its script or styles.
func TestPageReferencesServed(t *testing.T) {
	srv := newTestPanel()
	index := send(srv, "GET", "/", "").Body.String()
	for _, m := range regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`).FindAllStringSubmatch(index, -1) {
		if rec := send(srv, "GET", m[1], ""); rec.Code != http.StatusOK {
			t.Errorf("index.html names %s: HTTP %d", m[1], rec.Code)
		}
	}
}
