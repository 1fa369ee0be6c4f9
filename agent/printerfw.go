package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/printer/pjl"
	"github.com/tessera-print/tessera/protocol"
)

// The update-printer-firmware task (the firmware issue; docs/updates.md
// "Printer firmware"): the printer's model is checked over SNMP, the file
// downloaded as an agent update is (resumed, retried, size and SHA-256
// checked), then, inside the task's window and with the printer and the
// panel idle, sent to the printer: raw to its port 9100, or POSTed to an
// upload URL. The agent then waits for the printer to go away and come
// back, and rereads its firmware version.

// firmwareTaskTimeout bounds an update-printer-firmware task's run. A
// daily window opens within 24 hours, but the hub expires a task still in
// progress 24 hours after its start (hub TaskRunningExpiry): the agent
// gives up first, and says why, rather than the task expiring silently.
// A window opening later than that is reached by sending the task later.
const firmwareTaskTimeout = 23 * time.Hour

// Bounds of the wait for the printer after the firmware was sent.
const (
	// restartWait bounds the wait for the printer to go away and come
	// back: flashing and restarting takes a printer a few minutes.
	restartWait = 15 * time.Minute
	// restartPoll is how often SNMP is asked meanwhile.
	restartPoll = 10 * time.Second
	// windowPoll caps one wait for the window: the time of day is read
	// again after it, so a wall clock corrected while the agent waits
	// (NTP after a boot without a real-time clock) is followed.
	windowPoll = time.Hour
	// firmwareSNMPTimeout bounds one SNMP read of the task (the reads
	// have their own, shorter deadline in the SNMP settings).
	firmwareSNMPTimeout = 30 * time.Second
)

// Transports of a printer firmware.
const (
	transportRaw  = "raw9100"
	transportHTTP = "http"
)

// printerFirmwareResult is an update-printer-firmware task's result.
type printerFirmwareResult struct {
	Model string `json:"model"`
	From  string `json:"from"`
	To    string `json:"to"`
	// Changed: the version read after differs from the one before; false
	// also when neither could be read.
	Changed bool `json:"changed"`
	// Restarted: the printer was seen to stop answering SNMP and answer
	// again after the file was sent.
	Restarted bool   `json:"restarted"`
	Bytes     int64  `json:"bytes"`
	Transport string `json:"transport"`
}

// firmwareSend sends a firmware's size bytes from body by one transport.
type firmwareSend func(ctx context.Context, body io.Reader, size int64) (int64, error)

// updatePrinterFirmware runs an update-printer-firmware task.
func (t *taskRunner) updatePrinterFirmware(ctx context.Context, req protocol.TaskRequest) (any, error) {
	var p protocol.UpdateFirmwarePayload
	if err := decodePayload(req.Payload, &p); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("payload: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	res := printerFirmwareResult{Transport: p.Transport}
	if res.Transport == "" {
		res.Transport = transportRaw
	}
	// Checked before the download too: a file for another printer is
	// not fetched at all.
	if _, err := t.printerIdentity(ctx, p.Model); err != nil {
		return nil, err
	}
	send, err := t.firmwareSender(res.Transport, p.UploadURL)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(t.current.DataDir, "update", "printer-firmware.bin")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("firmware download: %w", err)
	}
	defer removeDownload(path)
	if err := t.download(ctx, req.ID, fetch{URL: p.URL, SHA256: p.SHA256, Size: p.Size}, path); err != nil {
		return nil, err
	}
	if err := t.waitToSend(ctx, req.ID, p.Window); err != nil {
		return nil, err
	}
	// Read again right before sending: the printer may have been
	// replaced while the task waited.
	before, err := t.printerIdentity(ctx, p.Model)
	if err != nil {
		return nil, err
	}
	res.Model, res.From = before.model, before.firmware
	if res.Bytes, err = t.sendFirmware(ctx, req.ID, path, p.Size, send); err != nil {
		return nil, err
	}
	t.log.Info("printer firmware sent", "task", req.ID, "bytes", res.Bytes, "transport", res.Transport, "from", res.From)
	if res.Restarted, err = t.waitRestart(ctx, req.ID); err != nil {
		return nil, err
	}
	res.To = t.firmwareVersion(ctx)
	res.Changed = res.To != res.From
	if !res.Changed {
		t.log.Warn("printer firmware: the version reads the same after the update", "task", req.ID, "version", res.To)
	}
	return res, nil
}

// removeDownload removes a download and what a cut one left.
func removeDownload(path string) {
	for _, p := range []string{path, path + ".partial", path + ".etag"} {
		_ = removeFile(p)
	}
}

// printerState is the printer as the firmware task reads it.
type printerState struct {
	model, firmware string
}

// printerIdentity reads the printer's model and firmware version over
// SNMP and refuses a model other than want (compared without case and
// surrounding spaces). Without SNMP a wanted model cannot be checked, and
// a firmware is never sent blind.
func (t *taskRunner) printerIdentity(ctx context.Context, want string) (printerState, error) {
	want = strings.TrimSpace(want)
	if t.snmp == nil {
		if want != "" {
			return printerState{}, fmt.Errorf("refused: the firmware is for %s and the agent has no SNMP settings to read the printer's model; nothing sent", want)
		}
		return printerState{}, nil
	}
	rctx, cancel := context.WithTimeout(ctx, firmwareSNMPTimeout)
	defer cancel()
	r, err := t.snmp.Read(rctx)
	if err != nil {
		return printerState{}, fmt.Errorf("refused: the printer's model cannot be read; nothing sent: %w", err)
	}
	model := strings.TrimSpace(r.Model)
	if want != "" && !strings.EqualFold(model, want) {
		return printerState{}, fmt.Errorf("model mismatch: printer is %s, firmware is for %s; nothing sent", model, want)
	}
	return printerState{model: model, firmware: t.firmwareVersion(ctx)}, nil
}

// firmwareVersion reads the printer's firmware version; "" when it
// cannot be read (no SNMP, no answer, no object naming it).
func (t *taskRunner) firmwareVersion(ctx context.Context) string {
	if t.snmp == nil {
		return ""
	}
	rctx, cancel := context.WithTimeout(ctx, firmwareSNMPTimeout)
	defer cancel()
	fw, err := t.snmp.Firmware(rctx)
	if err != nil {
		t.log.Warn("printer firmware version not read", "err", err)
		return ""
	}
	return fw.Version
}

// firmwareSender is the transport's send: raw to the printer's port
// 9100, or a POST of the bytes to uploadURL.
func (t *taskRunner) firmwareSender(transport, uploadURL string) (firmwareSend, error) {
	if transport == transportHTTP {
		client, err := firmwareHTTPClient(t.current.PrinterURI, t.current.PrinterCAFile, t.current.PrinterCertSHA256, uploadURL)
		if err != nil {
			return nil, fmt.Errorf("upload_url: %w", err)
		}
		return func(ctx context.Context, body io.Reader, size int64) (int64, error) {
			return postFirmware(ctx, client, uploadURL, body, size)
		}, nil
	}
	uri, err := rawFirmwareURI(t.current.PrinterURI)
	if err != nil {
		return nil, err
	}
	c, err := pjl.New(uri, pjl.Options{Logger: t.log.With("component", "pjl")})
	if err != nil {
		return nil, fmt.Errorf("printer firmware: %w", err)
	}
	return func(ctx context.Context, body io.Reader, _ int64) (int64, error) {
		return c.SendRaw(ctx, body)
	}, nil
}

// rawFirmwareURI is where a raw firmware goes: the socket:// printer
// itself, or port 9100 of an IPP printer's host (printers take a
// firmware file there whatever they print by).
func rawFirmwareURI(printerURI string) (string, error) {
	u, err := url.Parse(printerURI)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("printer_uri %q: no printer host to send a firmware to", printerURI)
	}
	if u.Scheme == "socket" {
		return printerURI, nil
	}
	return "socket://" + net.JoinHostPort(u.Hostname(), "9100"), nil
}

// firmwareHTTPClient is the client for an upload URL: the printer's own
// (its CA or pinned certificate; no proxy, no redirect) when the URL is
// on the printer's host, else one with the system's roots, equally
// without proxy or redirect. Never the hub link's: the upload stays on
// the printer's network.
func firmwareHTTPClient(printerURI, caFile, pin, uploadURL string) (*http.Client, error) {
	up, err := url.Parse(uploadURL)
	if err != nil {
		return nil, err
	}
	if pu, err := url.Parse(printerURI); err == nil && strings.EqualFold(pu.Hostname(), up.Hostname()) {
		return httpClient(caFile, pin)
	}
	return httpClient("", "")
}

// postFirmware POSTs the firmware's bytes to uploadURL as
// application/octet-stream; any 2xx answer is success.
func postFirmware(ctx context.Context, client *http.Client, uploadURL string, body io.Reader, size int64) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uploadURL, io.NopCloser(body))
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return 0, fmt.Errorf("upload: the printer answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return size, nil
}

// countingReader counts the bytes read from the file being sent and
// tells progress: what the transport took, within one buffer of what it
// sent.
type countingReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 {
		c.progress(c.n)
	}
	return n, err
}

// sendFirmware sends the downloaded file, reporting the phase "sending"
// with its percentage in steps of 10 (the outbox keeps one report per
// phase waiting, so finer steps would only be dropped).
func (t *taskRunner) sendFirmware(ctx context.Context, id, path string, size int64, send firmwareSend) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("printer firmware: %w", err)
	}
	defer f.Close()
	if t.progress != nil {
		t.progress(ctx, id, "sending", 0)
	}
	step := 0
	body := &countingReader{r: f, progress: func(read int64) {
		if s := int(read * 10 / size); s > step && t.progress != nil {
			step = s
			t.progress(ctx, id, "sending", min(s*10, 100))
		}
	}}
	n, err := send(ctx, body, size)
	if err != nil {
		return n, fmt.Errorf("printer firmware: %w", err)
	}
	if n != size || body.n != size {
		return n, fmt.Errorf("printer firmware: %d of %d bytes sent", min(n, body.n), size)
	}
	return n, nil
}

// timers is the clock the task runner waits on: the supervisor's (the
// agent's Options.Clock), else the time floor's, whose timers are the
// same clock's.
func (t *taskRunner) timers() clock.Clock {
	switch {
	case t.sv != nil && t.sv.clock != nil:
		return t.sv.clock
	case t.floor != nil:
		return t.floor
	}
	return clock.Real{}
}

// now is the agent's time (the floor's: never below what it knew).
func (t *taskRunner) now() time.Time {
	if t.floor != nil {
		return t.floor.Now()
	}
	return t.timers().Now()
}

// waitToSend waits until the printer's local time is inside the window
// (when the task gives one) and the printer and the panel are idle; a
// wait for idle that outlasts the window waits for the next one.
func (t *taskRunner) waitToSend(ctx context.Context, id string, w *protocol.FirmwareWindow) error {
	loc := time.Local
	if w != nil {
		var err error
		if loc, err = t.current.Location(); err != nil {
			return fmt.Errorf("window: %w", err)
		}
	}
	for {
		if err := t.waitWindow(ctx, id, w, loc); err != nil {
			return err
		}
		if err := t.waitIdle(ctx, id); err != nil {
			if errors.Is(err, errStayedBusy) {
				err = fmt.Errorf("%w; no firmware was sent", err)
			}
			return err
		}
		if untilWindow(w, t.now().In(loc)) == 0 {
			return nil
		}
	}
}

// waitWindow waits until the printer's local time (loc) is inside w,
// reporting the phase "waiting" once if it has to wait.
func (t *taskRunner) waitWindow(ctx context.Context, id string, w *protocol.FirmwareWindow, loc *time.Location) error {
	for told := false; ; told = true {
		d := untilWindow(w, t.now().In(loc))
		if d == 0 {
			return nil
		}
		if !told {
			t.reportPhase(ctx, id, "waiting")
			t.log.Info("printer firmware: waiting for the window", "task", id, "from", w.From, "to", w.To, "in", d)
		}
		timer, fire := t.timers().NewTimer(min(d, windowPoll))
		select {
		case <-fire:
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("the window %s to %s (%s) did not open within the task's time: %w", w.From, w.To, loc, ctx.Err())
		}
	}
}

// untilWindow is how long from now (a time in the printer's zone) until w
// opens: 0 inside it or without a window. A window whose end is before
// its start runs across midnight; one whose end is its start, all day.
func untilWindow(w *protocol.FirmwareWindow, now time.Time) time.Duration {
	if w == nil {
		return 0
	}
	from, to := clockAt(now, w.From), clockAt(now, w.To)
	var inside bool
	switch {
	case from.Equal(to):
		inside = true
	case from.Before(to):
		inside = !now.Before(from) && now.Before(to)
	default:
		inside = !now.Before(from) || now.Before(to)
	}
	if inside {
		return 0
	}
	if now.Before(from) {
		return from.Sub(now)
	}
	y, m, d := now.Date()
	return clockAt(time.Date(y, m, d+1, 12, 0, 0, 0, now.Location()), w.From).Sub(now)
}

// clockAt is HH:MM (validated by the payload) on day's date in day's
// zone; a time a DST change skips is moved on as time.Date does.
func clockAt(day time.Time, hhmm string) time.Time {
	var h, m int
	fmt.Sscanf(hhmm, "%d:%d", &h, &m)
	y, mo, d := day.Date()
	return time.Date(y, mo, d, h, m, 0, 0, day.Location())
}

// waitRestart waits, within restartWait, for the printer to stop
// answering SNMP and answer again; restarted tells whether it did. A
// printer that never stopped answering is no failure (some apply a
// firmware without restarting their network side; some refuse it), one
// that stopped and never came back is. Without SNMP nothing can be seen.
func (t *taskRunner) waitRestart(ctx context.Context, id string) (restarted bool, err error) {
	if t.snmp == nil {
		return false, nil
	}
	t.reportPhase(ctx, id, "restarting")
	clk := t.timers()
	deadline, expired := clk.NewTimer(restartWait)
	defer deadline.Stop()
	away := false
	for {
		poll, tick := clk.NewTimer(restartPoll)
		select {
		case <-tick:
		case <-expired:
			poll.Stop()
			if away {
				return false, fmt.Errorf("the firmware was sent, and the printer has not answered SNMP again within %s", restartWait)
			}
			return false, nil
		case <-ctx.Done():
			poll.Stop()
			return false, ctx.Err()
		}
		rctx, cancel := context.WithTimeout(ctx, firmwareSNMPTimeout)
		_, err := t.snmp.Check(rctx)
		cancel()
		switch {
		case err != nil && !away:
			away = true
			t.log.Info("printer firmware: the printer went away", "task", id, "err", err)
		case err == nil && away:
			t.log.Info("printer firmware: the printer is back", "task", id)
			return true, nil
		}
	}
}
