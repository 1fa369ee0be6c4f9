package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Security levels of SNMPv3 users, spelt as net-snmp's -l option and
// tessera's settings spell them.
const (
	SNMPDNoAuthNoPriv = "noAuthNoPriv"
	SNMPDAuthNoPriv   = "authNoPriv"
	SNMPDAuthPriv     = "authPriv"
)

// SNMPDUser is an SNMPv3 user of the test snmpd (RECIPES.md §2). Every
// user may read everything at its own level and above, and nothing below
// it.
type SNMPDUser struct {
	Name      string
	Level     string // SNMPDNoAuthNoPriv, SNMPDAuthNoPriv or SNMPDAuthPriv
	AuthProto string // as net-snmp and tessera spell it: SHA, SHA-256; "" for noAuthNoPriv
	AuthPass  string
	PrivProto string // AES; "" below authPriv
	PrivPass  string
}

// SNMPDUserSHA is a read-only authPriv user (SHA, AES) of every test snmpd.
func SNMPDUserSHA() SNMPDUser {
	return SNMPDUser{Name: "usersha", Level: SNMPDAuthPriv, AuthProto: "SHA", AuthPass: "authpass123", PrivProto: "AES", PrivPass: "privpass123"}
}

// SNMPDUserSHA256 is a read-only authPriv user (SHA-256, AES) of every
// test snmpd.
func SNMPDUserSHA256() SNMPDUser {
	return SNMPDUser{Name: "usersha256", Level: SNMPDAuthPriv, AuthProto: "SHA-256", AuthPass: "authpass256", PrivProto: "AES", PrivPass: "privpass256"}
}

// SNMPDUserAuthSHA is a read-only authNoPriv user (SHA) of every test
// snmpd.
func SNMPDUserAuthSHA() SNMPDUser {
	return SNMPDUser{Name: "userauthsha", Level: SNMPDAuthNoPriv, AuthProto: "SHA", AuthPass: "authonly123"}
}

// SNMPDUserAuthSHA256 is a read-only authNoPriv user (SHA-256) of every
// test snmpd.
func SNMPDUserAuthSHA256() SNMPDUser {
	return SNMPDUser{Name: "userauthsha256", Level: SNMPDAuthNoPriv, AuthProto: "SHA-256", AuthPass: "authonly256"}
}

// SNMPDUserNoAuth is a read-only noAuthNoPriv user of every test snmpd.
func SNMPDUserNoAuth() SNMPDUser {
	return SNMPDUser{Name: "usernoauth", Level: SNMPDNoAuthNoPriv}
}

// SNMPDUserWriter is the one user of every test snmpd that may write
// (authPriv, SHA, AES): the printer's administrator, as an agent's
// snmp_write names it. The pass script stores what it sets.
func SNMPDUserWriter() SNMPDUser {
	return SNMPDUser{Name: "writer", Level: SNMPDAuthPriv, AuthProto: "SHA", AuthPass: "writepass123", PrivProto: "AES", PrivPass: "writepriv123"}
}

// SNMPDUsers lists every SNMPv3 user of the test snmpd, weakest level
// first.
func SNMPDUsers() []SNMPDUser {
	return []SNMPDUser{SNMPDUserNoAuth(), SNMPDUserAuthSHA(), SNMPDUserAuthSHA256(), SNMPDUserSHA(), SNMPDUserSHA256()}
}

// SNMPDCommunity is the read-only v1/v2c community of the test snmpd.
const SNMPDCommunity = "public"

// SNMPDOptions configure StartSNMPD.
type SNMPDOptions struct {
	// Values are the objects served under the Printer-MIB
	// (1.3.6.1.2.1.43) and hrDevice (1.3.6.1.2.1.25.3) through a pass
	// script: OID without a leading dot → "TYPE VALUE", TYPE one of
	// counter, integer, gauge, string, objectid, timeticks.
	Values map[string]string
	// SysDescr is the agent's sysDescr (default "Test Printer Agent").
	SysDescr string
}

// SNMPD is a running net-snmp snmpd.
type SNMPD struct {
	Addr     string // 127.0.0.1:PORT (UDP)
	Port     int
	Dir      string
	values   string // the pass script's folder: one file per OID
	cmd      *exec.Cmd
	done     chan error
	stopOnce sync.Once
}

// passScript serves one file per OID (name: OID with its leading dot;
// content: "TYPE VALUE"). A side file OID.inc holding N adds N on every
// GET; a side file OID.back holding another OID makes GETNEXT from OID
// answer that one (a broken agent walking backwards); a file "delay" in
// the folder holding S makes every answer wait S seconds (a printer that
// becomes slow). A SET (only SNMPDUserWriter may) stores its value as the
// OID's file.
const passScript = `#!/bin/sh
DIR=%s
[ -f "$DIR/delay" ] && sleep "$(cat "$DIR/delay")"
out() { f="$DIR/$1"
  if [ -f "$f.inc" ]; then set -- "$1" $(cat "$f"); echo "$2 $(( $3 + $(cat "$f.inc") ))" > "$f.tmp" && mv "$f.tmp" "$f"; fi
  set -- "$1" "$(cat "$f")"; echo "$1"; echo "${2%%%% *}"; echo "${2#* }"; }
case "$1" in
  -g) [ -f "$DIR/$2" ] && out "$2"; exit 0 ;;
  -n) next=$( (ls -A "$DIR" | grep '^\.' | grep -v -e '\.inc$' -e '\.tmp$' -e '\.back$'; echo "$2") | sort -V -u | grep -A1 -x -F "$2" | sed -n 2p)
      [ -f "$DIR/$2.back" ] && next=$(cat "$DIR/$2.back")
      [ -n "$next" ] && out "$next"; exit 0 ;;
  -s) echo "$3 $4" > "$DIR/$2.tmp" && mv "$DIR/$2.tmp" "$DIR/$2"; exit 0 ;;
esac
exit 0
`

// StartSNMPD starts net-snmp's snmpd on a free UDP port of 127.0.0.1
// with the SNMPv3 users of SNMPDUsers (RECIPES.md §2 plus a noAuthNoPriv
// and two authNoPriv users), the community "public", and opts.Values served by a pass script that reads
// the values afresh on every request (Set changes them). Host-Resources'
// own printer tables are switched off so that the script's hrDevice and
// hrPrinter rows are the ones seen. It is stopped by its PID when the test
// ends.
func StartSNMPD(t testing.TB, opts SNMPDOptions) *SNMPD {
	t.Helper()
	bin := Require(t, "snmpd")
	dir := t.TempDir()
	d := &SNMPD{Dir: dir, values: filepath.Join(dir, "values")}
	if err := os.MkdirAll(filepath.Join(dir, "persist"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(d.values, 0o755); err != nil {
		t.Fatal(err)
	}
	for oid, v := range opts.Values {
		d.Set(t, oid, v)
	}
	script := filepath.Join(dir, "printer-pass.sh")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(passScript, shellQuote(d.values))), 0o755); err != nil {
		t.Fatal(err)
	}
	sysDescr := opts.SysDescr
	if sysDescr == "" {
		sysDescr = "Test Printer Agent"
	}
	conf := filepath.Join(dir, "snmpd.conf")
	confText := strings.Join([]string{
		"[snmp] mibs :",
		"[snmp] persistentDir " + filepath.Join(dir, "persist"),
		"sysDescr " + sysDescr,
		"sysName testprinter",
		userLines(),
		fmt.Sprintf("createUser %s %s %q %s %q", SNMPDUserWriter().Name, SNMPDUserWriter().AuthProto, SNMPDUserWriter().AuthPass,
			SNMPDUserWriter().PrivProto, SNMPDUserWriter().PrivPass),
		"rwuser " + SNMPDUserWriter().Name + " priv",
		"rocommunity " + SNMPDCommunity + " 127.0.0.1",
		"pass -p 1 .1.3.6.1.2.1.43 " + script,
		"pass -p 1 .1.3.6.1.2.1.25.3 " + script,
		"",
	}, "\n")
	if err := os.WriteFile(conf, []byte(confText), 0o600); err != nil {
		t.Fatal(err)
	}

	var lastErr error
	// A port found free can be taken before snmpd binds it: try again.
	for attempt := 0; attempt < 3; attempt++ {
		port := freeUDPPort(t)
		err := d.start(t, bin, conf, port)
		if err == nil {
			return d
		}
		lastErr = err
		t.Logf("snmpd attempt %d: %v", attempt+1, err)
	}
	t.Fatalf("snmpd did not start: %v", lastErr)
	return nil
}

// userLines creates every user of SNMPDUsers with read access at exactly
// its own level: a request at a weaker level is refused, as on a printer
// configured for that level.
func userLines() string {
	var lines []string
	for _, u := range SNMPDUsers() {
		create := "createUser " + u.Name
		if u.AuthProto != "" {
			create += fmt.Sprintf(" %s %q", u.AuthProto, u.AuthPass)
		}
		if u.PrivProto != "" {
			create += fmt.Sprintf(" %s %q", u.PrivProto, u.PrivPass)
		}
		lines = append(lines, create, "rouser "+u.Name+" "+rouserLevel(u.Level))
	}
	return strings.Join(lines, "\n")
}

// rouserLevel is the word snmpd.conf's rouser takes for the weakest
// security level it accepts.
func rouserLevel(level string) string {
	switch level {
	case SNMPDNoAuthNoPriv:
		return "noauth"
	case SNMPDAuthNoPriv:
		return "auth"
	}
	return "priv"
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (d *SNMPD) start(t testing.TB, bin, conf string, port int) error {
	t.Helper()
	out := &Buffer{}
	pidFile := filepath.Join(d.Dir, "snmpd.pid")
	cmd := exec.Command(bin, "-f", "-Lo", "-C", "-c", conf, "-p", pidFile,
		"-I", "-hr_device,hr_print,hr_disk,hr_partition,hr_network,hr_processor,hr_other",
		"udp:127.0.0.1:"+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(15 * time.Second)
	for !snmpAnswers(port, SNMPDCommunity) {
		select {
		case err := <-done:
			return fmt.Errorf("exited (%v): %s", err, out.String())
		case <-deadline:
			stop(cmd, done)
			return fmt.Errorf("no answer within 15 s: %s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	d.Port, d.Addr, d.cmd, d.done = port, "127.0.0.1:"+strconv.Itoa(port), cmd, done
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("snmpd output:\n%s", out.String())
		}
	})
	return nil
}

// Stop kills snmpd at once (SIGKILL, by its PID): a printer that is
// switched off. It is safe to call more than once.
func (d *SNMPD) Stop() {
	d.stopOnce.Do(func() {
		d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
	})
}

// Set makes the pass script answer oid (no leading dot) with "TYPE VALUE"
// from the next request on.
func (d *SNMPD) Set(t testing.TB, oid, typeAndValue string) {
	t.Helper()
	writeAtomic(t, filepath.Join(d.values, "."+strings.TrimPrefix(oid, ".")), typeAndValue+"\n")
}

// Value is what the pass script answers for oid now ("TYPE VALUE"; ""
// when it has none): what a SET stored.
func (d *SNMPD) Value(t testing.TB, oid string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.values, "."+strings.TrimPrefix(oid, ".")))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Remove makes the pass script forget oid.
func (d *SNMPD) Remove(t testing.TB, oid string) {
	t.Helper()
	base := filepath.Join(d.values, "."+strings.TrimPrefix(oid, "."))
	for _, p := range []string{base, base + ".inc", base + ".back"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}

// Increment makes every GET of oid add n to its value.
func (d *SNMPD) Increment(t testing.TB, oid string, n int) {
	t.Helper()
	writeAtomic(t, filepath.Join(d.values, "."+strings.TrimPrefix(oid, ".")+".inc"), strconv.Itoa(n)+"\n")
}

// Back makes GETNEXT from after answer answer instead: an agent whose
// OIDs go backwards.
func (d *SNMPD) Back(t testing.TB, after, answer string) {
	t.Helper()
	writeAtomic(t, filepath.Join(d.values, "."+strings.TrimPrefix(after, ".")+".back"), "."+strings.TrimPrefix(answer, ".")+"\n")
}

// Delay makes every answer of the pass script wait (0 removes the delay).
func (d *SNMPD) Delay(t testing.TB, wait time.Duration) {
	t.Helper()
	p := filepath.Join(d.values, "delay")
	if wait <= 0 {
		os.Remove(p)
		return
	}
	writeAtomic(t, p, strconv.FormatFloat(wait.Seconds(), 'f', 3, 64)+"\n")
}

// OIDs lists the objects the pass script serves, sorted.
func (d *SNMPD) OIDs(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(d.values)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") && !strings.HasSuffix(n, ".inc") && !strings.HasSuffix(n, ".tmp") && !strings.HasSuffix(n, ".back") {
			out = append(out, strings.TrimPrefix(n, "."))
		}
	}
	sort.Strings(out)
	return out
}

func writeAtomic(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free UDP port: %v", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
