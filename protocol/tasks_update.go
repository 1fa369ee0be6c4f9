package protocol

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
)

// The update tasks' payloads (issue 12's contract). Their mechanics are
// the firmware issue's; here, what both ends check before anything is
// downloaded: a hub refuses a bad payload at creation (422), an agent
// fails it with the same words.

// UpdateAgentPayload is an update-agent task's payload.
type UpdateAgentPayload struct {
	URL       string `json:"url"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	Version   string `json:"version"`
	Downgrade bool   `json:"downgrade,omitempty"`
}

// UpdateFirmwarePayload is an update-printer-firmware task's payload;
// Window is in the printer's time_zone.
type UpdateFirmwarePayload struct {
	URL       string          `json:"url"`
	SHA256    string          `json:"sha256"`
	Size      int64           `json:"size"`
	Model     string          `json:"model,omitempty"`
	Window    *FirmwareWindow `json:"window,omitempty"`
	Transport string          `json:"transport,omitempty"`
	UploadURL string          `json:"upload_url,omitempty"`
}

// FirmwareWindow is when a firmware may be sent: HH:MM to HH:MM (across
// midnight when To is before From).
type FirmwareWindow struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// MaxUpdateSize bounds what an update task may announce (a printer's
// firmware is rarely beyond a few hundred MiB).
const MaxUpdateSize = 2 << 30

var (
	sha256Re  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	hhmmRe    = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	versionRe = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$`)
)

// Validate reports every problem of the payload at once.
func (p UpdateAgentPayload) Validate() error {
	errs := checkDownload(p.URL, p.SHA256, p.Size)
	if !versionRe.MatchString(p.Version) {
		errs = append(errs, fmt.Errorf("version %q: a release version, MAJOR.MINOR.PATCH", p.Version))
	}
	return errors.Join(errs...)
}

// Validate reports every problem of the payload at once.
func (p UpdateFirmwarePayload) Validate() error {
	errs := checkDownload(p.URL, p.SHA256, p.Size)
	if p.Window != nil && (!hhmmRe.MatchString(p.Window.From) || !hhmmRe.MatchString(p.Window.To)) {
		errs = append(errs, fmt.Errorf("window %q to %q: HH:MM to HH:MM", p.Window.From, p.Window.To))
	}
	switch p.Transport {
	case "", "raw9100":
	case "http":
		errs = append(errs, checkURL("upload_url", p.UploadURL)...)
	default:
		errs = append(errs, fmt.Errorf("transport %q: raw9100 or http", p.Transport))
	}
	if len(p.Model) > MaxTextLength {
		errs = append(errs, fmt.Errorf("model: at most %d bytes", MaxTextLength))
	}
	return errors.Join(errs...)
}

// checkDownload checks what any update download needs: an http(s) URL, a
// SHA-256 in hex and a size within bounds.
func checkDownload(rawURL, sum string, size int64) []error {
	errs := checkURL("url", rawURL)
	if !sha256Re.MatchString(sum) {
		errs = append(errs, errors.New("sha256: 64 lower-case hex digits"))
	}
	if size <= 0 || size > MaxUpdateSize {
		errs = append(errs, fmt.Errorf("size %d: 1 to %d bytes", size, int64(MaxUpdateSize)))
	}
	return errs
}

func checkURL(name, raw string) []error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return []error{fmt.Errorf("%s %q: an http or https URL", name, raw)}
	}
	if u.User != nil {
		return []error{fmt.Errorf("%s: no credentials in the URL", name)}
	}
	if len(raw) > MaxTextLength {
		return []error{fmt.Errorf("%s: at most %d bytes", name, MaxTextLength)}
	}
	return nil
}
