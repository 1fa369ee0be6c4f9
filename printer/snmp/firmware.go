package snmp

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/tessera-print/tessera/printer/snmp/profile"
)

// The firmware version, for the printer-firmware task (the version before
// and after an update). No MIB every printer answers names it: the
// shared recordings of real printers carry it in a vendor object (Ricoh,
// Kyocera), in HOST-RESOURCES-MIB's installed software (Xerox), or only
// in sysDescr (Brother, Ricoh, Xerox); none carries ENTITY-MIB, which
// some network devices use and which is tried too.
const (
	// ENTITY-MIB (RFC 6933) entPhysicalFirmwareRev and
	// entPhysicalSoftwareRev.
	oidEntPhysicalFirmwareRev = "1.3.6.1.2.1.47.1.1.1.1.9"
	oidEntPhysicalSoftwareRev = "1.3.6.1.2.1.47.1.1.1.1.10"
	// HOST-RESOURCES-MIB hrSWInstalledName (RFC 2790).
	oidHrSWInstalledName = "1.3.6.1.2.1.25.6.3.1.2"
)

// Sources of a Firmware version, besides a vendor profile's ("vendor
// PROFILE").
const (
	FirmwareEntityFirmware = "entPhysicalFirmwareRev"
	FirmwareEntitySoftware = "entPhysicalSoftwareRev"
	FirmwareInstalled      = "hrSWInstalledName"
	FirmwareSysDescr       = "sysDescr"
)

// maxFirmwareRows bounds the installed-software rows joined into one
// version: a printer lists a handful (Xerox: four), a general-purpose
// host hundreds.
const maxFirmwareRows = 8

// Firmware is the printer's firmware version as it reads over SNMP, and
// the object it was read from. Version is "" when no object names one;
// it is compared as text, before and after an update.
type Firmware struct {
	Version string `json:"version"`
	Source  string `json:"source,omitempty"`
}

// Firmware reads the printer's firmware version: the matched vendor
// profile's object first (the most precise), then ENTITY-MIB's firmware
// and software revisions, then the installed software's names, then
// sysDescr when it holds a version (a number with a dot, or the word
// firmware or version). It ends within the settings' deadline; a printer
// that does not answer gives an error matching ErrNoAnswer.
func (c *Client) Firmware(ctx context.Context) (Firmware, error) {
	ctx, cancel := context.WithTimeout(ctx, c.s.Deadline)
	defer cancel()
	sess, closeSession, err := dial(ctx, c.s, c.log)
	if err != nil {
		return Firmware{}, err
	}
	defer closeSession()
	sess.trace = c.trace

	v := values{}
	descr := oidHrDeviceDescr + "." + strconv.FormatInt(c.device.Load(), 10)
	if err := getAll(ctx, sess, []string{oidSysDescr, oidSysObjectID, descr}, v); err != nil {
		return Firmware{}, fmt.Errorf("read the firmware version of %s: %w", c.s.Target, err)
	}
	var vendor *profile.Profile
	if p := profile.Match(c.profiles, text(v.str(oidSysObjectID)), text(v.str(oidSysDescr)), text(v.str(descr))); p != nil && len(p.FirmwareOIDs()) > 0 {
		vendor = p
		if err := getAll(ctx, sess, p.FirmwareOIDs(), v); err != nil {
			return Firmware{}, fmt.Errorf("read the firmware version of %s: %s profile: %w", c.s.Target, p.Vendor, err)
		}
	}
	w := newWalker(sess, c.s.Bulk && c.s.Version != "1", c.s.MaxRepetitions)
	problems, err := w.walk(ctx, []string{oidEntPhysicalFirmwareRev, oidEntPhysicalSoftwareRev, oidHrSWInstalledName}, v)
	if err != nil {
		return Firmware{}, fmt.Errorf("read the firmware version of %s: %w", c.s.Target, err)
	}
	for _, p := range problems {
		c.log.Warn("printer answered badly; its firmware version may be missing a part", "err", p)
	}
	return firmwareFrom(v, vendor), nil
}

// versionInDescr finds a version in a sysDescr: "2.20", "Ver.H",
// "Firmware"; a bare model name ("SHARP MX-3570N") has none.
var versionInDescr = regexp.MustCompile(`(?i)[0-9]\.[0-9]|\bver(sion|\.)|firmware`)

// firmwareFrom picks the firmware version from what Firmware read, in
// its order of preference.
func firmwareFrom(v values, vendor *profile.Profile) Firmware {
	if vendor != nil {
		for _, o := range vendor.FirmwareOIDs() {
			if s := text(v.str(o)); s != "" {
				return Firmware{Version: s, Source: "vendor " + vendor.Vendor}
			}
		}
	}
	for _, col := range []struct{ oid, source string }{
		{oidEntPhysicalFirmwareRev, FirmwareEntityFirmware},
		{oidEntPhysicalSoftwareRev, FirmwareEntitySoftware},
	} {
		for _, r := range v.column(col.oid) {
			if s := text(asString(r.value)); s != "" {
				return Firmware{Version: s, Source: col.source}
			}
		}
	}
	var installed []string
	for _, r := range v.column(oidHrSWInstalledName) {
		if s := text(asString(r.value)); s != "" && len(installed) < maxFirmwareRows {
			installed = append(installed, s)
		}
	}
	if len(installed) > 0 {
		return Firmware{Version: strings.Join(installed, " | "), Source: FirmwareInstalled}
	}
	if d := text(v.str(oidSysDescr)); versionInDescr.MatchString(d) {
		return Firmware{Version: d, Source: FirmwareSysDescr}
	}
	return Firmware{}
}
