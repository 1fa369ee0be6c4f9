package panel

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"path"
	"strings"
)

// web is the page: index.html at /, every other file under /static/
// (docs/panel-api.md, "The page").
//
//go:embed web
var web embed.FS

// staticPrefix is where the page's files other than index.html are served.
const staticPrefix = "/static/"

// maxPageBytes bounds the page as one browser loads it, uncompressed:
// index.html, every script and style sheet, and the two catalogues it
// can load at most: the device's language and the person's. English, the
// fallback, is fetched only when one of them is English or did not come
// (every catalogue has every key: i18n_test.go), so it is never a third. Printers' embedded browsers are slow, and the budget
// is 100 KB, read here as 100,000 bytes (TestPageWeight). The catalogues
// of the other languages are embedded but never sent to that browser, so
// a new language does not spend the budget.
const maxPageBytes = 100_000

// maxCataloguesLoaded is how many catalogues one browser loads at most.
const maxCataloguesLoaded = 2

// asset is one file of the page, ready to serve: compressed once at start,
// not per request.
type asset struct {
	body   []byte
	gz     []byte // nil when gzip does not make it smaller
	etag   string // strong: the SHA-256 of body
	gzEtag string // the gzip representation's own strong ETag
	ctype  string
}

// assets are the page's files by URL path ("/" and "/static/...").
type assets map[string]*asset

// loadAssets reads every file of fsys (rooted at the page's directory).
func loadAssets(fsys fs.FS) (assets, error) {
	as := assets{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		a, err := newAsset(name, body)
		if err != nil {
			return err
		}
		urlPath := staticPrefix + name
		if name == "index.html" {
			urlPath = "/"
		}
		as[urlPath] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("panel page: %w", err)
	}
	if as["/"] == nil {
		return nil, fmt.Errorf("panel page: no index.html")
	}
	return as, nil
}

func newAsset(name string, body []byte) (*asset, error) {
	sum := sha256.Sum256(body)
	a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:]) + `"`, ctype: mime.TypeByExtension(path.Ext(name))}
	if a.ctype == "" {
		a.ctype = "application/octet-stream"
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip %s: %w", name, err)
	}
	if _, err := zw.Write(body); err != nil {
		return nil, fmt.Errorf("gzip %s: %w", name, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip %s: %w", name, err)
	}
	if buf.Len() < len(body) {
		a.gz = buf.Bytes()
		// A strong ETag names one representation: the compressed bytes
		// differ from the plain ones, so their tag does too.
		a.gzEtag = strings.TrimSuffix(a.etag, `"`) + `-gz"`
	}
	return a, nil
}

// serve answers a GET or HEAD of a: 304 when the browser has it already,
// gzip when the browser takes it. Everything is revalidated (no-cache):
// the URLs do not change with the content, and a revalidation over the
// printer's own network costs a 304.
func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	body, etag := a.body, a.etag
	h := w.Header()
	h.Set("Vary", "Accept-Encoding")
	if a.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, etag = a.gz, a.gzEtag
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// acceptsGzip reports whether an Accept-Encoding takes gzip (q=0 refuses).
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.TrimSpace(coding) != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.ToLower(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// etagMatches is If-None-Match's weak comparison (RFC 9110 13.1.2).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// pagePolicy is the page's Content-Security-Policy for a request at host
// (the Host header, already checked by the guard): the agent's own origin
// only. The websocket's ws: and wss: addresses are listed explicitly, as
// older WebKit does not count them as 'self'. No inline script or style:
// the page's code is in app.js, its styles in style.css
// (TestPageHasNoInlineCode).
func pagePolicy(host string) string {
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'" + wsSources(host) +
		"; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

// wsSources is " ws://HOST wss://HOST" for a Host header, rebuilt from its
// name and a numeric port so nothing else of the header reaches the policy.
func wsSources(hostport string) string {
	host := hostOf(hostport)
	if host == "" || strings.ContainsAny(host, " ;,'\"") {
		return ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if _, port, err := net.SplitHostPort(hostport); err == nil && port != "" && strings.Trim(port, "0123456789") == "" {
		host += ":" + port
	}
	return " ws://" + host + " wss://" + host
}
