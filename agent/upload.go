package agent

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
)

// The upload-logs task (docs/protocol.md "upload-logs"): the diagnostics
// bundle, collected into a temporary file in the data directory (so a
// retry sends the same bytes and the size is known), then PUT to the URL
// the task gives, through the agent's proxy settings as the hub link.

// Bounds of an upload.
const (
	// maxUploadBytes caps the bundle: past it the task fails rather than
	// send what a slow uplink cannot carry in time.
	maxUploadBytes = 64 << 20
	// uploadTaskTimeout bounds the whole task (collecting, every attempt):
	// longer than taskTimeout, a bundle is megabytes.
	uploadTaskTimeout = 10 * time.Minute
	// uploadAttempts is how many times a temporary failure is tried.
	uploadAttempts = 4
	// uploadFirstWait is the wait before the second attempt; it doubles.
	uploadFirstWait = 2 * time.Second
)

// UploadLogsPayload is an upload-logs task's payload.
type UploadLogsPayload struct {
	URL string `json:"url"`
}

// uploadResult is an upload-logs task's result.
type uploadResult struct {
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// logUploader runs upload-logs tasks.
type logUploader struct {
	// bundle writes the diagnostics bundle (running.diagnostics).
	bundle func(ctx context.Context, w io.Writer) error
	dir    string // where the bundle is collected (the data directory)
	// client sends the bundle: the proxy of the hub link; the hub's TLS
	// settings for a URL on the hub's host, the system roots otherwise.
	client func(u *url.URL) *http.Client
	// progress reports a phase of a task in progress to the hub.
	progress  func(ctx context.Context, id, phase string, pct int)
	clock     clock.Clock
	log       *slog.Logger
	firstWait time.Duration
	maxBytes  int64 // the bundle's cap (0: maxUploadBytes)
}

// run collects the bundle and uploads it.
func (u *logUploader) run(ctx context.Context, req protocol.TaskRequest) (any, error) {
	var p UploadLogsPayload
	if err := decodePayload(req.Payload, &p); err != nil {
		return nil, err
	}
	target, err := url.Parse(p.URL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, errors.New("payload: url: want an http:// or https:// URL")
	}
	u.progress(ctx, req.ID, "collecting", 0)
	f, res, err := u.collect(ctx)
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	u.progress(ctx, req.ID, "uploading", 50)
	if err := u.put(ctx, target, f, res.Bytes); err != nil {
		return nil, err
	}
	u.log.Info("diagnostics uploaded", "task", req.ID, "host", target.Host, "bytes", res.Bytes, "sha256", res.SHA256)
	return res, nil
}

// collect writes the bundle to a temporary file (owner-only) and measures
// it.
func (u *logUploader) collect(ctx context.Context) (*os.File, uploadResult, error) {
	f, err := os.CreateTemp(u.dir, "diagnostics-*.tar.gz")
	if err != nil {
		return nil, uploadResult{}, fmt.Errorf("collect the bundle: %w", err)
	}
	fail := func(err error) (*os.File, uploadResult, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, uploadResult{}, err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	if err := u.bundle(ctx, cw); err != nil {
		return fail(fmt.Errorf("collect the bundle: %w", err))
	}
	limit := u.maxBytes
	if limit == 0 {
		limit = maxUploadBytes
	}
	if cw.n > limit {
		return fail(fmt.Errorf("bundle of %d bytes: past the cap of %d bytes", cw.n, limit))
	}
	return f, uploadResult{Bytes: cw.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// put sends the file, trying a temporary failure again after a wait that
// doubles (uploadAttempts in all).
func (u *logUploader) put(ctx context.Context, target *url.URL, f *os.File, size int64) error {
	wait := u.firstWait
	var err error
	for attempt := 1; ; attempt++ {
		var temporary bool
		if temporary, err = u.putOnce(ctx, target, f, size); err == nil {
			return nil
		}
		if !temporary || attempt == uploadAttempts || ctx.Err() != nil {
			return fmt.Errorf("upload to %s failed after %d attempt(s): %w", target.Host, attempt, err)
		}
		u.log.Info("upload failed; trying again", "host", target.Host, "attempt", attempt, "wait", wait, "err", err)
		t, fired := clock.OrReal(u.clock).NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("upload to %s failed after %d attempt(s): %w", target.Host, attempt, err)
		case <-fired:
		}
		wait *= 2
	}
}

// putOnce is one PUT. Its error never holds the URL (a pre-signed URL
// carries a credential in its query): only the host, the HTTP status or
// the network's words. temporary says whether trying again may help.
func (u *logUploader) putOnce(ctx context.Context, target *url.URL, f *os.File, size int64) (temporary bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target.String(), io.NewSectionReader(f, 0, size))
	if err != nil {
		return false, errors.New("bad URL")
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/gzip")
	resp, err := u.client(target).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var te interface{ Timeout() bool }
		var ne *net.OpError
		return errors.As(err, &te) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF), err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	temporary = resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests
	return temporary, fmt.Errorf("the server answered %s", resp.Status)
}

// countWriter counts what goes through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// newUploader makes the upload-logs runner of a running agent.
func (r *running) newUploader() *logUploader {
	return &logUploader{
		bundle:    r.diagnostics,
		dir:       r.cfg.DataDir,
		client:    r.uploadClient,
		progress:  r.taskProgress,
		clock:     r.opts.Clock,
		log:       r.log.With("component", "upload"),
		firstWait: uploadFirstWait,
	}
}

// uploadClient is the HTTP client for an upload to u: the hub link's
// proxy; the hub's CA bundle and pins when u is on the hub's host (the
// hub may receive bundles itself), the system's roots otherwise.
func (r *running) uploadClient(u *url.URL) *http.Client {
	proxy := r.hubProxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	var tlsCfg *tls.Config
	if hub, err := url.Parse(r.cfg.HubURL); err == nil && hub.Hostname() == u.Hostname() && r.hubTLS != nil {
		tlsCfg = r.hubTLS.Clone()
	}
	return &http.Client{Transport: &http.Transport{Proxy: proxy, TLSClientConfig: tlsCfg,
		TLSHandshakeTimeout: 30 * time.Second, ResponseHeaderTimeout: 2 * time.Minute}}
}

// taskProgress queues a task's phase for the hub (a TaskStatus in
// progress, through the outbox like its end); a report that cannot be
// queued is logged, the task goes on.
func (r *running) taskProgress(ctx context.Context, id, phase string, pct int) {
	st := protocol.TaskStatusRequest{ID: id, State: protocol.TaskInProgress, Phase: phase, Progress: pct, At: r.floor.Now().UTC()}
	if err := r.store.Enqueue(ctx, offline.KindTaskStatus, offline.TaskStatusKey(id, protocol.TaskInProgress+":"+phase), st); err != nil {
		r.log.Warn("task progress not queued", "task", id, "phase", phase, "err", err)
		return
	}
	r.kickSync()
}
