package pjl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on what the printer may send. The back channel is outside data:
// a message longer than maxMessage is dropped whole, and the strings kept
// from it are cut to maxText, so a chatty or broken printer costs a fixed
// amount of memory.
const (
	maxMessage = 4 << 10
	maxText    = 256
	maxDigits  = 9 // fits an int on every platform
)

// DeviceStatus is one USTATUS DEVICE (or TIMED) report: a five-digit code
// from appendix D of HP's PJL reference, the control panel text and
// whether the printer said it was offline.
type DeviceStatus struct {
	Code    int
	Display string // localized panel text, for people; decisions use Code
	Offline bool   // the printer said ONLINE=FALSE
}

// Category names the group of the code (its first two digits, appendix
// D of the PJL reference), e.g. "jam" for 42xyy and 44xyy.
func (d DeviceStatus) Category() string {
	if d.Code == 40000 {
		return "sleep" // "SLEEP MODE (STANDBY)": wakes up for a job
	}
	switch d.Code / 1000 {
	case 10:
		return "informational"
	case 11:
		return "background-paper-mount"
	case 12:
		return "background-tray"
	case 15:
		return "output-bin"
	case 20, 25, 27:
		return "pjl-error"
	case 30:
		return "auto-continuable"
	case 32:
		return "file-system"
	case 35:
		return "possible-intervention"
	case 40:
		return "intervention"
	case 41:
		return "paper-mount"
	case 42, 44:
		return "jam"
	case 43:
		return "paper-handling-device"
	}
	if d.Code >= 50000 && d.Code < 60000 {
		return "hardware"
	}
	return "unknown"
}

// Blocking reports a condition that stops printing until a person acts:
// operator intervention (40xxx but sleep), foreground paper mount (41xyy),
// jams (42xyy, 44xyy), paper handling devices (43xyy), hardware errors
// (50xxx), or any code the printer sent with ONLINE=FALSE.
func (d DeviceStatus) Blocking() bool {
	switch d.Category() {
	case "sleep":
		return false
	case "intervention", "paper-mount", "jam", "paper-handling-device", "hardware":
		return true
	}
	return d.Offline
}

func (d DeviceStatus) String() string {
	s := strconv.Itoa(d.Code)
	if d.Display != "" {
		s += fmt.Sprintf(" %q", d.Display)
	}
	if d.Offline {
		s += " (offline)"
	}
	return s
}

// message is one unsolicited status message.
type message struct {
	Kind     string // JOB, DEVICE, PAGE, TIMED, or another variable in upper case
	Event    string // JOB: START, END, CANCELED, or what the printer said
	Name     string
	HasName  bool
	Pages    int
	HasPages bool
	ID       int
	Result   string       // JOB: OK, USER_CANCELED, HOST_CANCELED, RESOURCE_CANCELED...
	Device   DeviceStatus // DEVICE and TIMED
	HasCode  bool
	Page     int // PAGE: the page that reached the output bin
}

var errNotUstatus = errors.New("not an unsolicited status message")

// parseUstatus reads one message as it comes between "@PJL" and the form
// feed (both excluded):
//
//	USTATUS JOB<CR><LF>
//	END<CR><LF>
//	NAME="job name"<CR><LF>
//	PAGES=123<CR><LF>
//	RESULT=OK<CR><LF>
//
// It is liberal where printers differ (a lone LF, spaces around "=",
// single quotes, no line end before the form feed) and strict on sizes.
func parseUstatus(b []byte) (message, error) {
	if len(b) > maxMessage {
		return message{}, fmt.Errorf("status message of %d bytes (limit %d)", len(b), maxMessage)
	}
	s := string(b)
	first, rest, _ := strings.Cut(s, "\n")
	f := strings.Fields(first)
	if len(f) < 2 || !strings.EqualFold(f[0], "USTATUS") {
		return message{}, errNotUstatus
	}
	m := message{Kind: clean(strings.ToUpper(f[1]))}
	lines := strings.Split(rest, "\n")
	if len(f) > 2 {
		// "USTATUS JOB START" on one line: read the rest as the next line.
		lines = append([]string{strings.Join(f[2:], " ")}, lines...)
	}
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key, val, isPair := strings.Cut(line, "=")
		if !isPair {
			m.bare(line)
			continue
		}
		m.pair(strings.ToUpper(strings.TrimSpace(key)), value(strings.TrimSpace(val)))
	}
	return m, nil
}

// bare takes a line without "=": the event of a JOB message, the page
// number of a PAGE message.
func (m *message) bare(line string) {
	switch m.Kind {
	case "JOB":
		if m.Event == "" {
			m.Event = clean(strings.ToUpper(line))
		}
	case "PAGE":
		if n, ok := number(line); ok && m.Page == 0 {
			m.Page = n
		}
	}
}

func (m *message) pair(key, val string) {
	switch m.Kind {
	case "JOB":
		switch key {
		case "NAME":
			m.Name, m.HasName = clean(val), true
		case "PAGES":
			m.Pages, m.HasPages = number(val)
		case "ID":
			m.ID, _ = number(val)
		case "RESULT":
			m.Result = clean(strings.ToUpper(val))
		}
	case "DEVICE", "TIMED":
		switch key {
		case "CODE":
			if n, ok := number(val); ok && n <= 99999 {
				m.Device.Code, m.HasCode = n, true
			}
		case "DISPLAY":
			m.Device.Display = clean(val)
		case "ONLINE":
			m.Device.Offline = strings.EqualFold(val, "FALSE")
		}
	}
}

// value strips the quotes of a PJL string ("..." as HP prints it, '...'
// as some Brother manuals do); an unterminated quote runs to the line end.
func value(v string) string {
	if len(v) == 0 || (v[0] != '"' && v[0] != '\'') {
		return v
	}
	q := v[0]
	v = v[1:]
	if i := strings.IndexByte(v, q); i >= 0 {
		v = v[:i]
	}
	return v
}

// number reads a non-negative decimal of at most maxDigits digits.
func number(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxDigits {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// clean bounds a string from the printer and makes it safe to log and
// to store: valid UTF-8, no control characters, at most maxText bytes.
func clean(s string) string {
	if len(s) > maxText {
		s = s[:maxText]
	}
	ok := utf8.ValidString(s)
	for i := 0; ok && i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			ok = false
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if r < 0x20 || r == 0x7f {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// splitter cuts the back channel into messages: from "@PJL" to the next
// form feed. Anything between messages (PostScript interpreter chatter,
// stray line ends) is skipped, and a message that outgrows maxMessage is
// dropped whole, so memory stays constant whatever the printer sends. A
// new "@PJL" inside a message starts over: the unterminated one is lost
// rather than glued to the next.
type splitter struct {
	match int  // bytes of "@PJL" matched so far
	in    bool // inside a message
	over  bool // the current message outgrew buf and will be dropped
	buf   []byte
}

const prefix = "@PJL"

func (s *splitter) feed(p []byte, emit func([]byte)) {
	for _, c := range p {
		switch {
		case c == prefix[s.match]:
			s.match++
		case c == prefix[0]:
			s.match = 1
		default:
			s.match = 0
		}
		if s.match == len(prefix) {
			s.match = 0
			s.in, s.over, s.buf = true, false, s.buf[:0]
			continue
		}
		if !s.in {
			continue
		}
		if c == '\f' {
			if !s.over {
				emit(s.buf)
			}
			s.in = false
			s.match = 0
			continue
		}
		if len(s.buf) < maxMessage {
			s.buf = append(s.buf, c)
		} else {
			s.over = true
		}
	}
}
