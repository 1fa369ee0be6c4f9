package testenv

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// snmpgetArgs are net-snmp's snmpget options for u at level (which may be
// weaker than u's own).
func snmpgetArgs(u SNMPDUser, level string) []string {
	args := []string{"-v3", "-On", "-t", "10", "-r", "0", "-l", level, "-u", u.Name}
	if level != SNMPDNoAuthNoPriv {
		args = append(args, "-a", u.AuthProto, "-A", u.AuthPass)
	}
	if level == SNMPDAuthPriv {
		args = append(args, "-x", u.PrivProto, "-X", u.PrivPass)
	}
	return args
}

// Every user reads, through net-snmp's own client, both snmpd's objects
// and the pass script's, at its level; a weaker level is refused, so a
// test that succeeds as a user really ran at that user's level.
func TestStartSNMPDUsers(t *testing.T) {
	snmpget := Require(t, "snmpget")
	const serial = "1.3.6.1.2.1.43.5.1.1.17.1"
	d := StartSNMPD(t, SNMPDOptions{Values: map[string]string{serial: "string TL1000-0042"}})
	get := func(args ...string) (string, error) {
		args = append(args, d.Addr, "1.3.6.1.2.1.1.1.0", serial)
		out, err := exec.Command(snmpget, args...).CombinedOutput()
		return string(out), err
	}

	out, err := get("-v2c", "-On", "-c", SNMPDCommunity)
	if err != nil || !strings.Contains(out, `"Test Printer Agent"`) || !strings.Contains(out, `"TL1000-0042"`) {
		t.Errorf("v2c: %v: %s", err, out)
	}
	levels := []string{SNMPDNoAuthNoPriv, SNMPDAuthNoPriv, SNMPDAuthPriv}
	for _, u := range SNMPDUsers() {
		t.Run(u.Name, func(t *testing.T) {
			own := slices.Index(levels, u.Level)
			if own < 0 {
				t.Fatalf("level %q", u.Level)
			}
			for _, level := range levels {
				out, err := get(snmpgetArgs(u, level)...)
				weaker := slices.Index(levels, level) < own
				switch {
				case level == u.Level && (err != nil || !strings.Contains(out, `"Test Printer Agent"`) || !strings.Contains(out, `"TL1000-0042"`)):
					t.Errorf("%s: %v: %s", level, err, out)
				case weaker && err == nil:
					t.Errorf("%s, weaker than the user's own level, was not refused: %s", level, out)
				}
			}
		})
	}
}
