package snmp

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Event kinds, the `kind` of the protocol's printer-event message.
const (
	EventAlertRaised   = "alert-raised"
	EventAlertCleared  = "alert-cleared"
	EventTonerLevel    = "toner-level"    // a supply's level changed
	EventTonerReplaced = "toner-replaced" // a supply's level jumped up
	EventTotalCounter  = "total-counter"
	EventStatus        = "status"    // the state or the reasons changed
	EventTelemetry     = "telemetry" // the whole picture, at least daily
)

// TelemetryEvery is how often a telemetry event goes out even when
// nothing changed, so the cloud's counters never age more than a day.
const TelemetryEvery = 24 * time.Hour

// Telemetry is the daily snapshot of a reading: identity, status, every
// counter and every supply, whether or not anything changed.
func Telemetry(r *Reading, now time.Time) Event {
	return Event{Kind: EventTelemetry, At: now, Status: r.Status.State, Reasons: r.Status.Codes(), Data: map[string]any{
		"vendor":   r.Vendor,
		"model":    r.Model,
		"serial":   r.Serial,
		"counters": map[string]uint64(r.Counters),
		"supplies": suppliesData(r.Supplies),
	}}
}

// replacedJump is how many percentage points a supply must gain between
// two readings to count as replaced rather than re-estimated.
const replacedJump = 10

// Event is a change between two readings, shaped like the protocol's
// PrinterEventRequest (kind, at, status, reasons, data) so that the agent
// copies it field by field. Data is ready for encoding/json.
type Event struct {
	Kind    string
	At      time.Time
	Status  string   // the state after the change
	Reasons []string // reason codes after the change
	Data    map[string]any
}

// Events lists what changed from prev to cur. With no prev (the first
// reading) only a status event is raised, so that the cloud learns the
// starting state. Supplies, counters and alerts are compared only when
// both readings have them: an unreachable printer has none, and coming
// back must not look like a new toner.
func Events(prev, cur *Reading, now time.Time) []Event {
	if cur == nil {
		return nil
	}
	mk := func(kind string, data map[string]any) Event {
		if data == nil {
			data = map[string]any{}
		}
		return Event{Kind: kind, At: now, Status: cur.Status.State, Reasons: cur.Status.Codes(), Data: data}
	}
	var out []Event
	if prev == nil || prev.Status.State != cur.Status.State || !slices.Equal(prev.Status.Codes(), cur.Status.Codes()) {
		data := map[string]any{
			"state":     cur.Status.State,
			"can_print": cur.Status.CanPrint,
			"reasons":   reasonsData(cur.Status.Reasons),
		}
		if prev != nil {
			data["previous_state"] = prev.Status.State
			data["previous_reasons"] = prev.Status.Codes()
		}
		out = append(out, mk(EventStatus, data))
	}
	if prev == nil || !reachable(prev) || !reachable(cur) {
		return out
	}

	prevAlerts := map[alertKey]Alert{}
	for _, a := range prev.Alerts {
		prevAlerts[keyOf(a)] = a
	}
	curAlerts := map[alertKey]bool{}
	for _, a := range cur.Alerts {
		curAlerts[keyOf(a)] = true
		if _, ok := prevAlerts[keyOf(a)]; !ok {
			out = append(out, mk(EventAlertRaised, map[string]any{"alert": alertData(a), "supplies": suppliesData(cur.Supplies)}))
		}
	}
	for _, a := range prev.Alerts {
		if !curAlerts[keyOf(a)] {
			out = append(out, mk(EventAlertCleared, map[string]any{"alert": alertData(a), "supplies": suppliesData(cur.Supplies)}))
		}
	}

	if len(prev.Supplies) > 0 && len(cur.Supplies) > 0 {
		before := map[int]Supply{}
		for _, s := range prev.Supplies {
			before[s.Index] = s
		}
		var changed, replaced []map[string]any
		for _, s := range cur.Supplies {
			p, ok := before[s.Index]
			if !ok {
				continue
			}
			switch supplyChange(p, s) {
			case changeReplaced:
				replaced = append(replaced, changeData(p, s))
			case changeLevel:
				changed = append(changed, changeData(p, s))
			}
		}
		if len(replaced) > 0 {
			out = append(out, mk(EventTonerReplaced, map[string]any{"replaced": replaced, "supplies": suppliesData(cur.Supplies)}))
		}
		if len(changed) > 0 {
			out = append(out, mk(EventTonerLevel, map[string]any{"changed": changed, "supplies": suppliesData(cur.Supplies)}))
		}
	}

	pt, okP := prev.Counters[CounterTotal]
	ct, okC := cur.Counters[CounterTotal]
	if okP && okC && pt != ct {
		data := map[string]any{"total": ct, "previous": pt, "counters": map[string]uint64(cur.Counters)}
		if d, ok := Delta(pt, ct, counterBits(pt, ct)); ok {
			data["delta"] = d
		} else {
			// The counter went back: a reset or another printer. No delta
			// can be charged from it.
			data["reset"] = true
		}
		deltas := map[string]uint64{}
		for k, c := range cur.Counters {
			if p, ok := prev.Counters[k]; ok {
				if d, ok := Delta(p, c, counterBits(p, c)); ok && d > 0 {
					deltas[k] = d
				}
			}
		}
		data["deltas"] = deltas
		out = append(out, mk(EventTotalCounter, data))
	}
	return out
}

func reachable(r *Reading) bool { return r.Status.State != StateUnreachable }

// Delta is how far a counter of the given width (32 for Counter32, 64)
// moved from prev to cur, through at most one wrap. ok is false when the
// counter went back further than a wrap explains: the printer was reset
// or replaced, and no delta can be charged.
func Delta(prev, cur uint64, bits int) (uint64, bool) {
	if cur >= prev {
		return cur - prev, true
	}
	if bits != 32 || prev > math.MaxUint32 || cur > math.MaxUint32 {
		return 0, false
	}
	d := (math.MaxUint32 - prev) + cur + 1
	// A wrap is believable only for a move smaller than half the range:
	// beyond that, "it went back" is far likelier than 2 billion pages.
	if d >= 1<<31 {
		return 0, false
	}
	return d, true
}

// counterBits guesses a counter's width: Counter32 unless a value does
// not fit 32 bits.
func counterBits(a, b uint64) int {
	if a > math.MaxUint32 || b > math.MaxUint32 {
		return 64
	}
	return 32
}

type change int

const (
	changeNone change = iota
	changeLevel
	changeReplaced
)

// supplyChange compares one supply in two readings: in percent when both
// have one (a toner reporting pages left would otherwise raise an event
// for every page), else in raw level.
func supplyChange(p, c Supply) change {
	if p.Percent != nil && c.Percent != nil {
		switch {
		case *c.Percent-*p.Percent >= replacedJump:
			return changeReplaced
		case *c.Percent != *p.Percent:
			return changeLevel
		}
		return changeNone
	}
	if p.Level == c.Level {
		return changeNone
	}
	// Without a capacity, any rise of a real level is a new supply: levels
	// only fall in use.
	if p.Level >= 0 && c.Level > p.Level && c.Max <= 0 {
		return changeReplaced
	}
	return changeLevel
}

type alertKey struct {
	index      int
	code       int64
	group      string
	groupIndex int64
	location   int64
	descr      string
}

func keyOf(a Alert) alertKey {
	return alertKey{a.Index, a.Code, a.Group, a.GroupIndex, a.Location, a.Description}
}

func alertData(a Alert) map[string]any {
	return map[string]any{
		"index": a.Index, "severity": a.Severity, "group": a.Group, "group_index": a.GroupIndex,
		"location": a.Location, "code": a.Code, "code_name": a.CodeName, "description": a.Description,
	}
}

func reasonsData(rs []Reason) []map[string]any {
	out := make([]map[string]any, len(rs))
	for i, r := range rs {
		out[i] = map[string]any{"code": r.Code, "blocking": r.Blocking, "message": r.Message}
	}
	return out
}

// suppliesData is the supply payload of every event: per supply its
// colour, level, capacity, percent and part number.
func suppliesData(ss []Supply) []map[string]any {
	out := make([]map[string]any, len(ss))
	for i, s := range ss {
		m := map[string]any{
			"index": s.Index, "description": s.Description, "type": s.Type,
			"colour": s.Colour, "level": s.Level, "max": s.Max, "part_number": s.PartNumber,
		}
		if s.Percent != nil {
			m["percent"] = *s.Percent
		} else {
			m["percent"] = nil
		}
		out[i] = m
	}
	return out
}

func changeData(p, c Supply) map[string]any {
	m := map[string]any{
		"index": c.Index, "description": c.Description, "colour": c.Colour, "part_number": c.PartNumber,
		"from_level": p.Level, "to_level": c.Level,
	}
	if p.Percent != nil {
		m["from_percent"] = *p.Percent
	}
	if c.Percent != nil {
		m["to_percent"] = *c.Percent
	}
	return m
}

// String is for logs.
func (e Event) String() string {
	return fmt.Sprintf("%s at %s (%s)", e.Kind, e.At.Format(time.RFC3339), e.Status)
}
