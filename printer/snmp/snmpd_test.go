package snmp

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
)

// A small laser printer served by net-snmp's snmpd through its pass script.
const (
	oidTestSerial = oidPrtGeneralSerialNumber + ".1"
	oidTestTotal  = oidPrtMarkerLifeCount + ".1.1"
	oidTestLevel  = oidPrtSupplyLevel + ".1.1"
)

func testPrinterValues() map[string]string {
	return map[string]string{
		oidHrDeviceType + ".1":        "objectid .1.3.6.1.2.1.25.3.1.5",
		oidHrDeviceDescr + ".1":       "string Test Laser 1000",
		oidHrDeviceStatus + ".1":      "integer 2",
		oidHrPrinterStatus + ".1":     "integer 3",
		oidHrPrinterErrorState + ".1": "octet 00 00",
		oidTestSerial:                 "string TL1000-0042",
		oidTestTotal:                  "counter 1000",
		oidPrtSupplyType + ".1.1":     "integer 3",
		oidPrtSupplyDescr + ".1.1":    "string Black Toner TK-1150",
		oidPrtSupplyMax + ".1.1":      "integer 3000",
		oidTestLevel:                  "integer 1500",
		oidPrtSupplyType + ".1.2":     "integer 4",
		oidPrtSupplyDescr + ".1.2":    "string Waste Toner Box",
		oidPrtSupplyMax + ".1.2":      "integer -2",
		oidPrtSupplyLevel + ".1.2":    "integer -3",
		oidPrtInputName + ".1.1":      "string Cassette 1",
		oidPrtInputMax + ".1.1":       "integer 250",
		oidPrtInputLevel + ".1.1":     "integer 120",
		oidPrtConsoleText + ".1.1":    "string Ready",
		oidPrtMarkerColorant + ".1.1": "string black",
		oidPrtSupplyColorant + ".1.1": "integer 1",
		oidPrtSupplyColorant + ".1.2": "integer 0",
	}
}

func startTestPrinter(t *testing.T) *testenv.SNMPD {
	t.Helper()
	return testenv.StartSNMPD(t, testenv.SNMPDOptions{Values: testPrinterValues()})
}

// snmpdSettings suits the test snmpd, whose pass script forks a shell per
// object: a bulk request of 60 values takes about a second, several on a
// loaded machine, so the timeout is generous where timing is not the point.
func snmpdSettings(addr string) Settings {
	s := DefaultSettings(addr)
	s.Timeout, s.Retries, s.Deadline = 20*time.Second, 0, 2*time.Minute
	return s
}

// v3Settings reach the test snmpd as u, at u's own security level.
func v3Settings(addr string, u testenv.SNMPDUser) Settings {
	s := snmpdSettings(addr)
	s.Version, s.Community = "3", ""
	s.User, s.Level = u.Name, u.Level
	s.AuthProto, s.AuthPass, s.PrivProto, s.PrivPass = u.AuthProto, u.AuthPass, u.PrivProto, u.PrivPass
	return s
}

// v3Name names a subtest after u's level and protocols.
func v3Name(u testenv.SNMPDUser) string {
	return strings.Join(slices.DeleteFunc([]string{u.Level, u.AuthProto, u.PrivProto}, func(s string) bool { return s == "" }), "-")
}

// versionCase is one way of reaching a printer: v2c or one v3 user.
type versionCase struct {
	name string
	s    Settings
}

// everyVersion reaches addr over v2c and as every v3 user of the test
// snmpd, with timing the caller sets.
func everyVersion(addr string) []versionCase {
	cases := []versionCase{{"v2c", DefaultSettings(addr)}}
	for _, u := range testenv.SNMPDUsers() {
		cases = append(cases, versionCase{"v3-" + v3Name(u), v3Settings(addr, u)})
	}
	return cases
}

// Every SNMPv3 security level, with each authentication protocol, reads
// the whole printer and passes the pre-release check.
func TestSNMPDv3Levels(t *testing.T) {
	d := startTestPrinter(t)
	users := testenv.SNMPDUsers()
	levels := map[string]bool{}
	for _, u := range users {
		levels[u.Level] = true
	}
	if len(levels) != 3 {
		t.Fatalf("the test snmpd's users cover levels %v, want all three", levels)
	}
	for _, u := range users {
		t.Run(v3Name(u), func(t *testing.T) {
			c := newClient(t, v3Settings(d.Addr, u))
			r, err := c.Read(context.Background())
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if r.SysDescr != "Test Printer Agent" || r.Model != "Test Laser 1000" || r.Serial != "TL1000-0042" ||
				r.Counters[CounterTotal] != 1000 || r.Status.State != StateReady {
				t.Errorf("reading = %q %q %q total %d %s", r.SysDescr, r.Model, r.Serial, r.Counters[CounterTotal], r.Status.State)
			}
			if len(r.Supplies) != 2 || r.Supplies[0].Colour != "black" || r.Supplies[0].PartNumber != "TK-1150" ||
				r.Supplies[0].Percent == nil || *r.Supplies[0].Percent != 50 || r.Supplies[1].LevelText != "some remaining" {
				t.Errorf("supplies = %+v", r.Supplies)
			}
			if len(r.Trays) != 1 || r.Trays[0].Name != "Cassette 1" || r.Trays[0].Level != 120 {
				t.Errorf("trays = %+v", r.Trays)
			}
			if len(r.Problems) != 0 {
				t.Errorf("problems = %q", r.Problems)
			}
			q, err := c.Check(context.Background())
			if err != nil || q.Serial != "TL1000-0042" || q.Status.State != StateReady {
				t.Errorf("Check = %+v, %v", q, err)
			}
		})
	}
}

func TestSNMPDv3Refused(t *testing.T) {
	d := startTestPrinter(t)
	sha := testenv.SNMPDUserSHA()
	wrongAuth := v3Settings(d.Addr, sha)
	wrongAuth.AuthPass = "not-the-password"
	wrongPriv := v3Settings(d.Addr, sha)
	wrongPriv.PrivPass = "not-the-password"
	wrongProto := v3Settings(d.Addr, sha)
	wrongProto.AuthProto = "SHA-256"
	unknownUser := v3Settings(d.Addr, sha)
	unknownUser.User = "nobody-here"
	noPriv := v3Settings(d.Addr, sha)
	noPriv.Level, noPriv.PrivProto, noPriv.PrivPass = AuthNoPriv, "", ""
	authSHA, authSHA256 := testenv.SNMPDUserAuthSHA(), testenv.SNMPDUserAuthSHA256()
	authWrongPass := v3Settings(d.Addr, authSHA)
	authWrongPass.AuthPass = "not-the-password"
	auth256WrongPass := v3Settings(d.Addr, authSHA256)
	auth256WrongPass.AuthPass = "not-the-password"
	authWrongProto := v3Settings(d.Addr, authSHA256)
	authWrongProto.AuthProto = "SHA"
	noAuth := v3Settings(d.Addr, authSHA)
	noAuth.Level, noAuth.AuthProto, noAuth.AuthPass = NoAuthNoPriv, "", ""
	privForAuthOnly := v3Settings(d.Addr, authSHA)
	privForAuthOnly.Level, privForAuthOnly.PrivProto, privForAuthOnly.PrivPass = AuthPriv, "AES", "privpass123"
	noAuthUnknown := v3Settings(d.Addr, testenv.SNMPDUserNoAuth())
	noAuthUnknown.User = "nobody-here"
	for _, tc := range []struct {
		name string
		s    Settings
		says string
	}{
		{"wrong auth pass", wrongAuth, "authentication protocol or pass phrase"},
		{"wrong auth protocol", wrongProto, "authentication protocol or pass phrase"},
		{"wrong priv pass", wrongPriv, "privacy pass phrase"},
		{"unknown user", unknownUser, "wrong user name"},
		{"authNoPriv for a priv user", noPriv, "AuthorizationError"},
		{"authNoPriv wrong pass", authWrongPass, "authentication protocol or pass phrase"},
		{"authNoPriv SHA-256 wrong pass", auth256WrongPass, "authentication protocol or pass phrase"},
		{"authNoPriv wrong protocol", authWrongProto, "authentication protocol or pass phrase"},
		{"noAuthNoPriv for an auth user", noAuth, "at this security level"},
		// snmpd's Report (unsupported security level) comes without
		// authentication, so the client cannot tell it from a wrong pass
		// phrase.
		{"authPriv for an authNoPriv user", privForAuthOnly, "refused the SNMP credentials"},
		{"noAuthNoPriv unknown user", noAuthUnknown, "unknown SNMPv3 user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			s.Timeout, s.Retries, s.Deadline = 500*time.Millisecond, 0, 3*time.Second
			_, err := newClient(t, s).Read(context.Background())
			if err == nil {
				t.Fatal("Read succeeded")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			if !errors.Is(err, ErrAuth) || errors.Is(err, ErrNoAnswer) {
				t.Errorf("error %v is not ErrAuth alone", err)
			}
		})
	}
}

func TestNoAnswerWithinDeadline(t *testing.T) {
	// A socket that reads and never answers: a printer that drops our
	// packets (firewall, wrong community on some agents).
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := silent.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	// A port where nothing listens: ICMP port unreachable.
	closed, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.LocalAddr().String()
	closed.Close()

	for _, tc := range []struct{ name, addr string }{{"silent", silent.LocalAddr().String()}, {"closed port", closedAddr}} {
		// Over v3 the engine discovery is the request that gets no answer.
		for _, vc := range everyVersion(tc.addr) {
			t.Run(tc.name+"/"+vc.name, func(t *testing.T) {
				s := vc.s
				// Retries would take 4 s; the deadline cuts at 1 s.
				s.Timeout, s.Retries, s.Deadline = time.Second, 3, time.Second
				c := newClient(t, s)
				start := time.Now()
				_, err := c.Read(context.Background())
				took := time.Since(start)
				if !isNoAnswer(err) || errors.Is(err, ErrAuth) {
					t.Fatalf("Read: %v, want ErrNoAnswer alone", err)
				}
				if took > s.Deadline+2*time.Second {
					t.Errorf("Read took %s, deadline %s", took, s.Deadline)
				}
				start = time.Now()
				_, err = c.Check(context.Background())
				took = time.Since(start)
				if !isNoAnswer(err) || errors.Is(err, ErrAuth) {
					t.Fatalf("Check: %v, want ErrNoAnswer alone", err)
				}
				if took > s.Deadline+2*time.Second {
					t.Errorf("Check took %s, deadline %s", took, s.Deadline)
				}
			})
		}
	}
}

func TestCounterMovesBetweenReads(t *testing.T) {
	d := startTestPrinter(t)
	c := newClient(t, v3Settings(d.Addr, testenv.SNMPDUserSHA()))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		from, to  string
		delta     uint64
		wantDelta bool
	}{
		{"pages printed", "counter 1000", "counter 1234", 234, true},
		{"Counter32 wrap", "counter 4294967290", "counter 10", 16, true},
		{"reset", "counter 500000", "counter 12", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d.Set(t, oidTestTotal, tc.from)
			prev, err := c.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			d.Set(t, oidTestTotal, tc.to)
			cur, err := c.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			evs := Events(prev, cur, now)
			if len(evs) != 1 || evs[0].Kind != EventTotalCounter {
				t.Fatalf("events = %v, want one total-counter", evs)
			}
			got, ok := evs[0].Data["delta"]
			if tc.wantDelta && (!ok || got != tc.delta) {
				t.Errorf("delta = %v (%v), want %d", got, ok, tc.delta)
			}
			if !tc.wantDelta && (ok || evs[0].Data["reset"] != true) {
				t.Errorf("data = %v, want a reset without delta", evs[0].Data)
			}
			if !evs[0].At.Equal(now) || evs[0].Status != StateReady {
				t.Errorf("event = %+v", evs[0])
			}
		})
	}
}

func TestSupplyAndAlertEvents(t *testing.T) {
	d := startTestPrinter(t)
	c := newClient(t, snmpdSettings(d.Addr))
	read := func() *Reading {
		t.Helper()
		r, err := c.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	now := time.Now()
	kinds := func(evs []Event) []string {
		var k []string
		for _, e := range evs {
			k = append(k, e.Kind)
		}
		return k
	}

	r0 := read()
	d.Set(t, oidTestLevel, "integer 1400") // 50% → 47%
	r1 := read()
	evs := Events(r0, r1, now)
	if got := kinds(evs); len(got) != 1 || got[0] != EventTonerLevel {
		t.Fatalf("events = %v, want toner-level", got)
	}
	sup := evs[0].Data["supplies"].([]map[string]any)
	if sup[0]["colour"] != "black" || sup[0]["level"] != int64(1400) || sup[0]["percent"] != 47 || sup[0]["part_number"] != "TK-1150" {
		t.Errorf("supply payload = %v", sup[0])
	}

	d.Set(t, oidTestLevel, "integer 3000") // new cartridge
	r2 := read()
	if got := kinds(Events(r1, r2, now)); len(got) != 1 || got[0] != EventTonerReplaced {
		t.Fatalf("events = %v, want toner-replaced", got)
	}

	// A paper jam: a critical alert and the jammed bit.
	for oid, v := range map[string]string{
		oidPrtAlertSeverity + ".1.7":    "integer 3",
		oidPrtAlertTraining + ".1.7":    "integer 3",
		oidPrtAlertGroup + ".1.7":       "integer 13",
		oidPrtAlertGroupIndex + ".1.7":  "integer 1",
		oidPrtAlertLocation + ".1.7":    "integer 0",
		oidPrtAlertCode + ".1.7":        "integer 8",
		oidPrtAlertDescription + ".1.7": "string Paper jam in the fuser",
		oidPrtAlertTime + ".1.7":        "timeticks 12345",
		oidHrPrinterErrorState + ".1":   "octet 04 00",
		oidHrDeviceStatus + ".1":        "integer 5",
		oidHrPrinterStatus + ".1":       "integer 1",
	} {
		d.Set(t, oid, v)
	}
	r3 := read()
	if r3.Status.State != StateAttention || r3.Status.CanPrint || len(r3.Status.Reasons) != 1 ||
		r3.Status.Reasons[0].Code != ReasonMediaJam || !r3.Status.Reasons[0].Blocking || r3.Status.Reasons[0].Message != "Paper jam" {
		t.Errorf("jammed status = %+v", r3.Status)
	}
	evs = Events(r2, r3, now)
	if got := kinds(evs); len(got) != 2 || got[0] != EventStatus || got[1] != EventAlertRaised {
		t.Fatalf("events = %v, want status, alert-raised", got)
	}
	if a := evs[1].Data["alert"].(map[string]any); a["code_name"] != "jam" || a["severity"] != "critical" || a["description"] != "Paper jam in the fuser" {
		t.Errorf("alert payload = %v", a)
	}
	q, err := c.Check(context.Background())
	if err != nil || q.Status.State != StateAttention || q.Status.CanPrint || q.Status.Codes()[0] != ReasonMediaJam {
		t.Errorf("Check = %+v, %v", q, err)
	}

	for _, col := range []string{oidPrtAlertSeverity, oidPrtAlertTraining, oidPrtAlertGroup, oidPrtAlertGroupIndex,
		oidPrtAlertLocation, oidPrtAlertCode, oidPrtAlertDescription, oidPrtAlertTime} {
		d.Remove(t, col+".1.7")
	}
	d.Set(t, oidHrPrinterErrorState+".1", "octet 00 00")
	d.Set(t, oidHrDeviceStatus+".1", "integer 2")
	d.Set(t, oidHrPrinterStatus+".1", "integer 3")
	r4 := read()
	if got := kinds(Events(r3, r4, now)); len(got) != 2 || got[0] != EventStatus || got[1] != EventAlertCleared {
		t.Fatalf("events = %v, want status, alert-cleared", got)
	}
}

// A printer switched off in the middle of a walk: an error, no hang.
func TestPrinterDisappearsMidWalk(t *testing.T) {
	for _, tc := range []struct {
		name string
		user *testenv.SNMPDUser // nil: v2c
		bulk bool
	}{
		{"v2c/getbulk", nil, true},
		{"v2c/getnext", nil, false},
		{"v3-authPriv/getbulk", new(testenv.SNMPDUserSHA256()), true},
		{"v3-authPriv/getnext", new(testenv.SNMPDUserSHA256()), false},
		{"v3-noAuthNoPriv/getbulk", new(testenv.SNMPDUserNoAuth()), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startTestPrinter(t)
			s := DefaultSettings(d.Addr)
			if tc.user != nil {
				s = v3Settings(d.Addr, *tc.user)
			}
			s.Bulk = tc.bulk
			// The test snmpd's pass script forks a shell per object: a
			// request of 60 values takes a second or more, so a shorter
			// timeout lost the walk's first answer (the printer seemed
			// gone before the walk) on a loaded machine: 4 s was still
			// too short with other test binaries running beside it (a
			// getnext of 39 objects took more than 4 s).
			s.Timeout, s.Retries, s.Deadline = 8*time.Second, 0, 20*time.Second
			c := newClient(t, s)
			var once sync.Once
			walks := 0
			c.trace = func(op string, oids []string) {
				if op == "get" {
					return
				}
				walks++
				if walks == 2 {
					once.Do(d.Stop)
				}
			}
			start := time.Now()
			_, err := c.Read(context.Background())
			if !isNoAnswer(err) || errors.Is(err, ErrAuth) {
				t.Fatalf("Read: %v, want ErrNoAnswer alone", err)
			}
			if walks < 2 {
				t.Fatalf("the printer went away before the walk (%d walk requests)", walks)
			}
			if took := time.Since(start); took > s.Deadline+2*time.Second {
				t.Errorf("Read took %s", took)
			}
		})
	}
}

// A printer that becomes too slow: the whole-read deadline ends the read
// and the check, over v2c and every v3 level alike. Over v3 the engine
// discovery still answers at once (snmpd handles it without the slow pass
// script); only the requests for printer objects hang.
func TestDeadlineEndsSlowRead(t *testing.T) {
	// No address yet: each case gets an snmpd of its own, because the one
	// before may still sleep in its pass script.
	for _, vc := range everyVersion("") {
		t.Run(vc.name, func(t *testing.T) {
			d := startTestPrinter(t)
			d.Delay(t, 3*time.Second)
			s := vc.s
			s.Target = d.Addr
			s.Timeout, s.Retries, s.Deadline = 5*time.Second, 0, time.Second
			c := newClient(t, s)
			for _, op := range []struct {
				name string
				do   func(context.Context) error
			}{
				{"Read", func(ctx context.Context) error { _, err := c.Read(ctx); return err }},
				{"Check", func(ctx context.Context) error { _, err := c.Check(ctx); return err }},
			} {
				start := time.Now()
				err := op.do(context.Background())
				if !isNoAnswer(err) || errors.Is(err, ErrAuth) {
					t.Fatalf("%s: %v, want ErrNoAnswer alone", op.name, err)
				}
				if took := time.Since(start); took > s.Deadline+2*time.Second {
					t.Errorf("%s took %s, deadline %s", op.name, took, s.Deadline)
				}
			}
		})
	}
}

// A real agent whose GETNEXT goes backwards: the guard ends that walk with
// an error instead of walking in circles, and the rest of the reading
// stands.
func TestWalkGoingBackwards(t *testing.T) {
	d := startTestPrinter(t)
	d.Set(t, oidPrtSupplyLevel+".1.3", "integer 7")
	d.Back(t, oidPrtSupplyLevel+".1.2", oidPrtSupplyLevel+".1.1")
	for _, bulk := range []bool{true, false} {
		t.Run(map[bool]string{true: "getbulk", false: "getnext"}[bulk], func(t *testing.T) {
			s := snmpdSettings(d.Addr)
			s.Bulk = bulk
			c := newClient(t, s)
			r, err := c.Read(context.Background())
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "do not increase") {
				t.Errorf("problems = %q, want one about OIDs that do not increase", r.Problems)
			}
			if r.Serial != "TL1000-0042" || r.Counters[CounterTotal] != 1000 {
				t.Errorf("the rest of the reading is lost: %+v", r)
			}

			ctx := context.Background()
			sess, closeSession, err := dial(ctx, c.Settings(), c.log)
			if err != nil {
				t.Fatal(err)
			}
			defer closeSession()
			g := &getter{r: sess, w: newWalker(sess, bulk, 10)}
			_, err = g.Walk(ctx, oidPrtSupplyLevel)
			if !errors.Is(err, ErrNotIncreasing) {
				t.Errorf("Walk: %v, want ErrNotIncreasing", err)
			}
		})
	}
}
