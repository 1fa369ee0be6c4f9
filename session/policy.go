package session

import (
	"fmt"
	"strings"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

var dayNames = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// minutes parses "HH:MM" (up to "24:00") into minutes of the day.
func minutes(hhmm string) (int, bool) {
	var h, m int
	if _, err := fmt.Sscanf(hhmm, "%d:%d", &h, &m); err != nil || h < 0 || m < 0 || m > 59 || h*60+m > 24*60 {
		return 0, false
	}
	return h*60 + m, true
}

// allowedNow reports whether now, read in the printer's time zone loc (nil:
// the system's), falls in one of the windows (no windows: always). The zone
// is the config's, not now's own: a box kept on UTC serves a printer whose
// windows are written in its office's hours.
func allowedNow(now time.Time, loc *time.Location, windows []protocol.Window) bool {
	if len(windows) == 0 {
		return true
	}
	if loc == nil {
		loc = time.Local
	}
	now = now.In(loc)
	day := dayNames[now.Weekday()]
	at := now.Hour()*60 + now.Minute()
	for _, w := range windows {
		from, ok1 := minutes(w.From)
		to, ok2 := minutes(w.To)
		if !ok1 || !ok2 {
			continue
		}
		if len(w.Days) > 0 && !containsFold(w.Days, day) {
			continue
		}
		if at >= from && at < to {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// describeWindows says when printing is allowed, for the person.
func describeWindows(windows []protocol.Window) string {
	var parts []string
	for _, w := range windows {
		days := "every day"
		if len(w.Days) > 0 {
			days = strings.Join(w.Days, ", ")
		}
		parts = append(parts, fmt.Sprintf("%s %s–%s", days, w.From, w.To))
	}
	return strings.Join(parts, "; ")
}
