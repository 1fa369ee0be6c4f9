package snmp

import (
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	files := map[string]string{"/a": "authpass123\n", "/p": "privpass123\r\n", "/short": "abc\n", "/empty": ""}
	readFile := func(name string) ([]byte, error) {
		if c, ok := files[name]; ok {
			return []byte(c), nil
		}
		return nil, os.ErrNotExist
	}
	for _, tc := range []struct {
		raw  string
		want Settings // zero: an error is expected
		err  string
	}{
		{raw: "snmp://10.0.0.5", want: Settings{Target: "10.0.0.5:161", Version: "2c", Community: "public",
			Timeout: 2 * time.Second, Retries: 1, Bulk: true, MaxRepetitions: 10, Deadline: 10 * time.Second}},
		{raw: "snmp://sec%40ret@printer.lan:1161?version=1&timeout=500ms&retries=0&bulk=false&max-repetitions=25&deadline=3s",
			want: Settings{Target: "printer.lan:1161", Version: "1", Community: "sec@ret",
				Timeout: 500 * time.Millisecond, Bulk: false, MaxRepetitions: 25, Deadline: 3 * time.Second}},
		{raw: "snmp://alice@[::1]:1161?version=3&level=authPriv&auth=SHA-256&auth-pass-file=/a&priv=AES&priv-pass-file=/p",
			want: Settings{Target: "[::1]:1161", Version: "3", User: "alice", Level: AuthPriv, AuthProto: "SHA-256",
				AuthPass: "authpass123", PrivProto: "AES", PrivPass: "privpass123",
				Timeout: 2 * time.Second, Retries: 1, Bulk: true, MaxRepetitions: 10, Deadline: 10 * time.Second}},
		{raw: "snmp://bob@h?version=3&auth-pass-file=/a", want: Settings{Target: "h:161", Version: "3", User: "bob",
			Level: AuthNoPriv, AuthProto: "SHA", AuthPass: "authpass123",
			Timeout: 2 * time.Second, Retries: 1, Bulk: true, MaxRepetitions: 10, Deadline: 10 * time.Second}},
		{raw: "snmp://bob@h?version=3&level=authPriv&auth-pass=authpass123", err: "refused"},
		{raw: "snmp://bob@h?version=3&priv-pass=x", err: "refused"},
		{raw: "snmp://bob:authpass123@h?version=3", err: "refused"},
		{raw: "snmp://bob@h?version=3&level=authPriv&auth-pass-file=/a", err: "priv pass phrase"},
		{raw: "snmp://bob@h?version=3&auth-pass-file=/short", err: "shorter than 8"},
		{raw: "snmp://bob@h?version=3&auth-pass-file=/empty", err: "empty"},
		{raw: "snmp://bob@h?version=3&auth-pass-file=/missing", err: "read pass file"},
		{raw: "snmp://bob@h?version=3&auth=MD5&auth-pass-file=/a", err: "MD5 is refused"},
		{raw: "snmp://bob@h?version=3&priv=DES&auth-pass-file=/a&priv-pass-file=/p", err: "DES is refused"},
		{raw: "snmp://h?version=3", err: "no user"},
		{raw: "snmp://h?level=authPriv", err: "version=3"},
		{raw: "snmp://h?version=2", err: "want 1, 2c or 3"},
		{raw: "snmp://h?max-repetitions=0", err: "max-repetitions"},
		{raw: "snmp://h?timeout=0s", err: "timeout"},
		{raw: "snmp://h?frobnicate=1", err: "unknown parameter"},
		{raw: "snmp://h?retries=1&retries=2", err: "2 times"},
		{raw: "http://h", err: "scheme"},
		{raw: "snmp://h:99999", err: "bad port"},
		{raw: "snmp://]:", err: "want HOST"},
		{raw: "snmp:///x", err: "no host"},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := ParseURL(tc.raw, readFile)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseURL = %+v, %v; want an error saying %q", got, err, tc.err)
				}
				for _, secret := range []string{"authpass123", "privpass123"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q shows a pass phrase", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParseURL =\n%+v\nwant\n%+v", got, tc.want)
			}
			s := got.String()
			for _, secret := range []string{"authpass123", "privpass123", "sec@ret", "sec%40ret"} {
				if strings.Contains(s, secret) {
					t.Errorf("String() = %s shows a secret", s)
				}
			}
			if got.Version == "3" {
				return // String() has no pass phrases to read back
			}
			// String() reads back, but for the community.
			back, err := ParseURL(s, readFile)
			got.Community = back.Community
			if err != nil || back != got {
				t.Errorf("String() %s reads back as %+v, %v", s, back, err)
			}
		})
	}
}

func TestDelta(t *testing.T) {
	for _, tc := range []struct {
		prev, cur uint64
		bits      int
		want      uint64
		ok        bool
	}{
		{1000, 1234, 32, 234, true},
		{5, 5, 32, 0, true},
		{math.MaxUint32 - 5, 10, 32, 16, true},
		{math.MaxUint32, 0, 32, 1, true},
		{math.MaxUint32, math.MaxUint32, 32, 0, true},
		{500000, 12, 32, 0, false},          // reset, not 4 billion pages
		{1 << 31, 0, 32, 1 << 31, false},    // half the range: a reset
		{1<<31 + 1, 0, 32, 1<<31 - 1, true}, // just under half: a wrap
		{math.MaxUint32 - 5, 10, 64, 0, false},
		{1 << 40, 1<<40 + 7, 64, 7, true},
		{1 << 40, 3, 32, 0, false},
	} {
		got, ok := Delta(tc.prev, tc.cur, tc.bits)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("Delta(%d, %d, %d) = %d, %v; want %d, %v", tc.prev, tc.cur, tc.bits, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDecodeErrorStateEveryBit(t *testing.T) {
	want := []struct{ name, reason string }{
		{"lowPaper", ReasonLowPaper}, {"noPaper", ReasonNoPaper}, {"lowToner", ReasonLowToner},
		{"noToner", ReasonNoToner}, {"doorOpen", ReasonDoorOpen}, {"jammed", ReasonMediaJam},
		{"offline", ReasonOffline}, {"serviceRequested", ReasonServiceRequested},
		{"inputTrayMissing", ReasonInputTrayMissing}, {"outputTrayMissing", ReasonOutputTrayMissing},
		{"markerSupplyMissing", ReasonMarkerSupplyMissing}, {"outputNearFull", ReasonOutputNearFull},
		{"outputFull", ReasonOutputFull}, {"inputTrayEmpty", ReasonInputTrayEmpty},
		{"overduePreventMaint", ReasonOverdueMaintenance},
	}
	for i, w := range want {
		b := []byte{0, 0}
		b[i/8] = 0x80 >> (i % 8)
		names, reasons := decodeErrorState(string(b))
		if !slices.Equal(names, []string{w.name}) || !slices.Equal(reasons, []string{w.reason}) {
			t.Errorf("bit %d (% x) = %v %v, want %s %s", i, b, names, reasons, w.name, w.reason)
		}
		blocking, _, _ := reasonInfo(w.reason)
		wantBlocking := slices.Contains([]string{"noPaper", "noToner", "doorOpen", "jammed", "offline", "outputFull"}, w.name)
		if blocking != wantBlocking {
			t.Errorf("%s blocking = %v", w.name, blocking)
		}
	}
	// Bit 15 is undefined; a third octet is ignored; one octet is RFC 2790's.
	if n, _ := decodeErrorState("\x00\x01\xff"); len(n) != 0 {
		t.Errorf("undefined bits decoded: %v", n)
	}
	if n, _ := decodeErrorState("\x05"); !slices.Equal(n, []string{"jammed", "serviceRequested"}) {
		t.Errorf("one octet = %v", n)
	}
	if n, _ := decodeErrorState(""); len(n) != 0 {
		t.Errorf("empty = %v", n)
	}
}

func TestDeriveStatus(t *testing.T) {
	jam := Alert{SeverityCode: 3, GroupCode: 13, Code: 8, Description: "Jam"}
	power := Alert{SeverityCode: 1, GroupCode: 5, Code: 23}
	inkLow := Alert{SeverityCode: 4, GroupCode: 11, Code: 1105}
	trayEmpty := Alert{SeverityCode: 4, GroupCode: 8, Code: 13}
	paperOut := Alert{SeverityCode: 3, GroupCode: 8, Code: 808}
	fan := Alert{SeverityCode: 3, GroupCode: 1, Code: 2, Description: "Fan failure 1234"}
	for _, tc := range []struct {
		name     string
		dev, prn int64
		bits     []string
		alerts   []Alert
		state    string
		reasons  []string
		canPrint bool
	}{
		{"idle", devRunning, prnIdle, nil, nil, StateReady, []string{}, true},
		{"printing", devRunning, prnPrinting, nil, nil, StatePrinting, []string{}, true},
		{"printing, toner low", devWarning, prnPrinting, []string{ReasonLowToner}, nil, StatePrinting, []string{ReasonLowToner}, true},
		{"warming up (moving on-line)", devDown, prnWarmup, nil, nil, StateWarmingUp, []string{ReasonWarmingUp}, true},
		{"standby", devRunning, prnOther, nil, nil, StateSleeping, []string{ReasonSleeping}, true},
		{"power saver alert", devRunning, prnIdle, nil, []Alert{power}, StateSleeping, []string{ReasonSleeping}, true},
		{"down, nothing said", devDown, prnOther, nil, nil, StateAttention, []string{ReasonOffline}, false},
		{"jam by bit and alert", devDown, prnOther, []string{ReasonMediaJam}, []Alert{jam}, StateAttention, []string{ReasonMediaJam}, false},
		{"jam while printing", devWarning, prnPrinting, nil, []Alert{jam}, StateAttention, []string{ReasonMediaJam}, false},
		{"warning without detail", devWarning, 0, nil, nil, StateReady, []string{ReasonWarning}, true},
		{"ink low by alert", devWarning, prnIdle, nil, []Alert{inkLow}, StateReady, []string{ReasonLowToner}, true},
		{"a tray empty", devWarning, prnIdle, nil, []Alert{trayEmpty}, StateReady, []string{ReasonInputTrayEmpty}, true},
		{"paper out", devDown, prnOther, nil, []Alert{paperOut}, StateAttention, []string{ReasonNoPaper}, false},
		{"unknown critical alert", devWarning, prnIdle, nil, []Alert{fan}, StateReady, []string{ReasonCriticalAlert}, true},
		{"blocking first", devDown, prnOther, []string{ReasonLowToner, ReasonDoorOpen, ReasonNoPaper}, nil,
			StateAttention, []string{ReasonDoorOpen, ReasonNoPaper, ReasonLowToner}, false},
		{"nothing known", 0, 0, nil, nil, StateReady, []string{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := deriveStatus(tc.dev, tc.prn, tc.bits, tc.alerts)
			if st.State != tc.state || !slices.Equal(st.Codes(), tc.reasons) || st.CanPrint != tc.canPrint {
				t.Errorf("= %s %v can print %v, want %s %v %v", st.State, st.Codes(), st.CanPrint, tc.state, tc.reasons, tc.canPrint)
			}
			for _, r := range st.Reasons {
				if r.Message == "" || r.Message == r.Code {
					t.Errorf("reason %s has no words", r.Code)
				}
			}
		})
	}
	if st := deriveStatus(devWarning, prnIdle, nil, []Alert{inkLow}); st.Reasons[0].Message != "Ink low" {
		t.Errorf("ink alert message = %q", st.Reasons[0].Message)
	}
	if st := deriveStatus(devWarning, prnIdle, nil, []Alert{fan}); st.Reasons[0].Message != "Critical alert: Fan failure 1234" {
		t.Errorf("critical alert message = %q", st.Reasons[0].Message)
	}
	if u := Unreachable(); u.State != StateUnreachable || u.CanPrint || u.Codes()[0] != ReasonUnreachable {
		t.Errorf("Unreachable() = %+v", u)
	}
}

func TestSupplyDetails(t *testing.T) {
	for _, tc := range []struct{ descr, part, colour string }{
		{"Cyan Toner Cartridge, WorkCentre 6605DN, PN#106R02237", "106R02237", "cyan"},
		{"TN-350/TN-2000/TN-2025/TN-2075", "TN-350", ""},
		{"PK-3010S", "PK-3010S", ""},
		{"Black Toner TK-1150", "TK-1150", "black"},
		{"black ink cartridge HP unknown", "", "black"},
		{"tri-color ink cartridge", "", "tri-color"},
		{"Waste Toner Box", "", ""},
		{"Blackberry Unit", "", ""},
		{"Light Cyan Ink", "", "light cyan"},
	} {
		if got := partNumber(tc.descr); got != tc.part {
			t.Errorf("partNumber(%q) = %q, want %q", tc.descr, got, tc.part)
		}
		if got := colourOf(tc.descr); got != tc.colour {
			t.Errorf("colourOf(%q) = %q, want %q", tc.descr, got, tc.colour)
		}
	}
	for _, tc := range []struct {
		level, max int64
		want       int
	}{{0, 100, 0}, {11, 100, 11}, {5340, 6000, 89}, {6900, 11500, 60}, {120, 100, 100}, {-3, 100, -1}, {50, -2, -1}, {50, 0, -1}} {
		got := -1
		if p := percent(tc.level, tc.max); p != nil {
			got = *p
		}
		if got != tc.want {
			t.Errorf("percent(%d, %d) = %d, want %d", tc.level, tc.max, got, tc.want)
		}
	}
	for _, tc := range []struct {
		unit, feed, xfeed int64
		want              string
	}{{3, 110000, 85000, "Letter"}, {4, 297000, 210000, "A4"}, {4, 420000, 297000, "A3"}, {3, 140000, 85000, "Legal"},
		{4, 100000, 100000, "100×100 mm"}, {4, -2, -2, ""}, {8, 1, 1, ""}} {
		if got := mediaSize(tc.unit, tc.feed, tc.xfeed); got != tc.want {
			t.Errorf("mediaSize(%d, %d, %d) = %q, want %q", tc.unit, tc.feed, tc.xfeed, got, tc.want)
		}
	}
	if got := text("  Fach\xe4 1\x00junk"); got != "Fachä 1" {
		t.Errorf("text(Latin-1) = %q", got)
	}
}

func TestEventsBetweenReadings(t *testing.T) {
	pct := func(n int) *int { return &n }
	base := func() *Reading {
		return &Reading{
			Status:   Status{State: StateReady, Reasons: []Reason{}, CanPrint: true},
			Counters: Counters{CounterTotal: 100, CounterPrint: 80, CounterCopy: 20},
			Supplies: []Supply{
				{Index: 1, Description: "Black", Colour: "black", Level: 500, Max: 1000, Percent: pct(50), PartNumber: "TK-1"},
				{Index: 2, Description: "Waste", Level: -3, Max: -2},
			},
			Alerts: []Alert{{Index: 1, Code: 23, Group: "generalPrinter", Description: "Power Saver"}},
		}
	}
	now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	kinds := func(evs []Event) []string {
		var k []string
		for _, e := range evs {
			k = append(k, e.Kind)
		}
		return k
	}
	prev := base()
	if got := kinds(Events(nil, prev, now)); !slices.Equal(got, []string{EventStatus}) {
		t.Errorf("first reading: %v", got)
	}
	if got := kinds(Events(prev, base(), now)); len(got) != 0 {
		t.Errorf("no change: %v", got)
	}

	cur := base()
	cur.Counters[CounterTotal], cur.Counters[CounterPrint] = 130, 110
	cur.Supplies[0].Level, cur.Supplies[0].Percent = 480, pct(48)
	cur.Supplies[1].Level = 0 // -3 → 0: a change, not a replacement
	cur.Alerts = []Alert{{Index: 2, Code: 1104, Group: "markerSupplies", Description: "Toner low"}}
	cur.Status = Status{State: StateReady, Reasons: []Reason{{Code: ReasonLowToner, Message: "Toner low"}}, CanPrint: true}
	evs := Events(prev, cur, now)
	if got := kinds(evs); !slices.Equal(got, []string{EventStatus, EventAlertRaised, EventAlertCleared, EventTonerLevel, EventTotalCounter}) {
		t.Fatalf("events = %v", got)
	}
	for _, e := range evs {
		if !e.At.Equal(now) || e.Status != StateReady || !slices.Equal(e.Reasons, []string{ReasonLowToner}) {
			t.Errorf("%s: at %v status %s reasons %v", e.Kind, e.At, e.Status, e.Reasons)
		}
	}
	tot := evs[4].Data
	if tot["delta"] != uint64(30) || tot["total"] != uint64(130) ||
		tot["deltas"].(map[string]uint64)[CounterPrint] != 30 || tot["deltas"].(map[string]uint64)[CounterCopy] != 0 {
		t.Errorf("total-counter data = %v", tot)
	}
	changed := evs[3].Data["changed"].([]map[string]any)
	if len(changed) != 2 || changed[0]["from_percent"] != 50 || changed[0]["to_percent"] != 48 {
		t.Errorf("toner-level data = %v", changed)
	}

	repl := base()
	repl.Supplies[0].Level, repl.Supplies[0].Percent = 1000, pct(100)
	if got := kinds(Events(prev, repl, now)); !slices.Equal(got, []string{EventTonerReplaced}) {
		t.Errorf("new cartridge: %v", got)
	}

	// Unreachable and back: a status event each way, nothing else.
	gone := &Reading{Status: Unreachable()}
	if got := kinds(Events(prev, gone, now)); !slices.Equal(got, []string{EventStatus}) {
		t.Errorf("gone: %v", got)
	}
	if got := kinds(Events(gone, base(), now)); !slices.Equal(got, []string{EventStatus}) {
		t.Errorf("back: %v", got)
	}
}

func TestReadingJSONShape(t *testing.T) {
	r := &Reading{Status: Status{State: StateReady}, Counters: Counters{CounterTotal: 5}}
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"vendor":""`, `"status":"ready"`, `"reasons":[]`, `"counters":{"total":5}`,
		`"supplies":[]`, `"alerts":[]`, `"trays":[]`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s: %s", want, s)
		}
	}
	var back Reading
	if err := back.UnmarshalJSON(b); err != nil || back.Status.State != StateReady || back.Counters[CounterTotal] != 5 {
		t.Errorf("read back %+v, %v", back, err)
	}
}

func TestErrorsMatch(t *testing.T) {
	if !errors.Is(&StatusError{Status: 16}, ErrAuth) { // authorizationError
		t.Error("authorizationError is not ErrAuth")
	}
	if errors.Is(&StatusError{Status: 5}, ErrAuth) { // genErr
		t.Error("genErr is ErrAuth")
	}
}
