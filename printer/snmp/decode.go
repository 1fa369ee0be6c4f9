package snmp

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// values is what a read collected: OID (no leading dot) → uint64, int64
// or string, as the transport produced them. Absent objects are absent.
type values map[string]any

func (v values) str(oid string) string {
	s, _ := v[oid].(string)
	return s
}

// int returns an INTEGER object. Unsigned types are accepted too (some
// agents send Counter32 or Gauge32 where the MIB says Integer32), when
// they fit.
func (v values) int(oid string) (int64, bool) {
	switch n := v[oid].(type) {
	case int64:
		return n, true
	case uint64:
		if n <= math.MaxInt64 {
			return int64(n), true
		}
	}
	return 0, false
}

// row is one instance of a table column: its index arcs and value.
type row struct {
	index []int64
	value any
}

// column returns the instances of a column in index order. Instances
// whose index is not made of numbers are skipped.
func (v values) column(col string) []row {
	var out []row
	prefix := col + "."
	for oid, val := range v {
		rest, ok := strings.CutPrefix(oid, prefix)
		if !ok {
			continue
		}
		idx, ok := parseIndex(rest)
		if !ok {
			continue
		}
		out = append(out, row{index: idx, value: val})
	}
	slices.SortFunc(out, func(a, b row) int { return slices.Compare(a.index, b.index) })
	return out
}

func parseIndex(s string) ([]int64, bool) {
	if s == "" {
		return nil, false
	}
	var idx []int64
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.ParseUint(part, 10, 32)
		if err != nil {
			return nil, false
		}
		idx = append(idx, int64(n))
	}
	return idx, true
}

func indexKey(idx []int64) string {
	parts := make([]string, len(idx))
	for i, n := range idx {
		parts[i] = strconv.FormatInt(n, 10)
	}
	return strings.Join(parts, ".")
}

// decode turns the collected values into a reading. It never fails: what
// is missing or malformed stays empty.
func decode(v values) *Reading {
	r := &Reading{
		SysDescr:    text(v.str(oidSysDescr)),
		SysObjectID: oidText(v.str(oidSysObjectID)),
		SysName:     text(v.str(oidSysName)),
		SysLocation: text(v.str(oidSysLocation)),
		Counters:    Counters{},
	}
	dev := printerDevice(v)
	r.device = dev
	at := func(col string) string { return col + "." + strconv.FormatInt(dev, 10) }

	r.DeviceDescr = text(v.str(at(oidHrDeviceDescr)))
	r.Model = modelFrom(r.DeviceDescr)
	devStatus, _ := v.int(at(oidHrDeviceStatus))
	prnStatus, _ := asInt(first(v, oidHrPrinterStatus, dev))
	errState, _ := first(v, oidHrPrinterErrorState, dev).(string)
	r.Serial = text(asString(first(v, oidPrtGeneralSerialNumber, dev)))
	r.DeviceStatus = deviceStatusName(devStatus)
	r.PrinterStatus = printerStatusName(prnStatus)
	var bitReasons []string
	r.ErrorState, bitReasons = decodeErrorState(errState)
	r.MAC = macFrom(v)

	if n, ok := asUint(first(v, oidPrtMarkerLifeCount, dev)); ok {
		r.Counters[CounterTotal] = n
	}
	r.Supplies = supplies(v, dev)
	r.Trays = trays(v, dev)
	r.Alerts = alerts(v, dev)
	lines, console := tableRows(v, dev, oidPrtConsoleText)
	for _, i := range lines {
		if s := text(asString(console[i][oidPrtConsoleText])); s != "" {
			r.Console = append(r.Console, s)
		}
	}
	r.Status = deriveStatus(devStatus, prnStatus, bitReasons, r.Alerts)
	return r
}

// printerDevice finds the hrDeviceIndex of the printer: the first device
// of type hrDevicePrinter, else the first row of hrPrinterTable, else 1.
func printerDevice(v values) int64 {
	for _, rw := range v.column(oidHrDeviceType) {
		if s, ok := rw.value.(string); ok && len(rw.index) == 1 && strings.TrimPrefix(s, ".") == oidHrDevicePrinter {
			return rw.index[0]
		}
	}
	for _, col := range []string{oidHrPrinterStatus, oidHrPrinterErrorState} {
		if rows := v.column(col); len(rows) > 0 && len(rows[0].index) == 1 {
			return rows[0].index[0]
		}
	}
	return 1
}

// first returns the instance of col for device dev, else its first
// instance: some agents index a table by something else than the
// hrDeviceIndex.
func first(v values, col string, dev int64) any {
	rows := v.column(col)
	for _, rw := range rows {
		if len(rw.index) >= 1 && rw.index[0] == dev {
			return rw.value
		}
	}
	if len(rows) > 0 {
		return rows[0].value
	}
	return nil
}

// hasDevice reports whether any row of col belongs to device dev. When
// none does, the table is indexed some other way and all rows are kept.
func hasDevice(v values, col string, dev int64) bool {
	for _, rw := range v.column(col) {
		if len(rw.index) >= 1 && rw.index[0] == dev {
			return true
		}
	}
	return false
}

func asString(x any) string {
	s, _ := x.(string)
	return s
}

func asUint(x any) (uint64, bool) {
	switch n := x.(type) {
	case uint64:
		return n, true
	case int64:
		if n >= 0 {
			return uint64(n), true
		}
	}
	return 0, false
}

func asInt(x any) (int64, bool) {
	switch n := x.(type) {
	case int64:
		return n, true
	case uint64:
		if n <= math.MaxInt64 {
			return int64(n), true
		}
	}
	return 0, false
}

// modelFrom takes the model out of hrDeviceDescr: Xerox appends firmware
// versions after a semicolon.
func modelFrom(descr string) string {
	m, _, _ := strings.Cut(descr, ";")
	return strings.TrimSpace(m)
}

// macFrom returns ifPhysAddress of the first interface that is not a
// software loopback (ifType 24) and has a 6-octet address.
func macFrom(v values) string {
	types := map[string]int64{}
	for _, rw := range v.column(oidIfType) {
		if n, ok := asInt(rw.value); ok {
			types[indexKey(rw.index)] = n
		}
	}
	for _, rw := range v.column(oidIfPhysAddress) {
		if types[indexKey(rw.index)] == 24 {
			continue
		}
		b := asString(rw.value)
		if len(b) != 6 || b == "\x00\x00\x00\x00\x00\x00" {
			continue
		}
		return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
	}
	return ""
}

// tableRows gathers the rows of a Printer-MIB table (index
// hrDeviceIndex.row) for device dev from its columns: row index → column
// OID → value. When no row belongs to dev, all rows are kept.
func tableRows(v values, dev int64, cols ...string) (order []int64, rows map[int64]map[string]any) {
	rows = map[int64]map[string]any{}
	mine := false
	for _, c := range cols {
		if hasDevice(v, c, dev) {
			mine = true
			break
		}
	}
	for _, c := range cols {
		for _, rw := range v.column(c) {
			if len(rw.index) != 2 || (mine && rw.index[0] != dev) {
				continue
			}
			i := rw.index[1]
			if rows[i] == nil {
				if len(rows) >= maxTableRows {
					continue
				}
				rows[i] = map[string]any{}
				order = append(order, i)
			}
			rows[i][c] = rw.value
		}
	}
	slices.Sort(order)
	return order, rows
}

// maxTableRows bounds the rows decoded per table.
const maxTableRows = 256

func supplies(v values, dev int64) []Supply {
	order, rows := tableRows(v, dev, oidPrtSupplyDescr, oidPrtSupplyLevel, oidPrtSupplyMax,
		oidPrtSupplyType, oidPrtSupplyClass, oidPrtSupplyUnit, oidPrtSupplyColorant)
	colorants := map[int64]string{}
	_, crows := tableRows(v, dev, oidPrtMarkerColorant)
	for i, c := range crows {
		colorants[i] = text(asString(c[oidPrtMarkerColorant]))
	}
	out := make([]Supply, 0, len(order))
	for _, i := range order {
		c := rows[i]
		s := Supply{Index: int(i), Description: text(asString(c[oidPrtSupplyDescr])), Level: -2, Max: -2}
		if n, ok := asInt(c[oidPrtSupplyLevel]); ok {
			s.Level = n
		}
		if n, ok := asInt(c[oidPrtSupplyMax]); ok {
			s.Max = n
		}
		if n, ok := asInt(c[oidPrtSupplyType]); ok {
			s.Type = supplyTypeName(n)
		}
		if n, ok := asInt(c[oidPrtSupplyClass]); ok {
			s.Class = map[int64]string{3: "consumed", 4: "receptacle"}[n]
		}
		if n, ok := asInt(c[oidPrtSupplyUnit]); ok {
			s.Unit = supplyUnitName(n)
		}
		if n, ok := asInt(c[oidPrtSupplyColorant]); ok && n > 0 {
			s.Colorant = colorants[n]
		}
		s.Percent = percent(s.Level, s.Max)
		s.LevelText = levelText(s.Level, "some remaining")
		s.Colour = colourOf(s.Colorant)
		if s.Colour == "" && s.Type != "wasteToner" && s.Type != "wasteInk" {
			s.Colour = colourOf(s.Description)
		}
		s.PartNumber = partNumber(s.Description)
		out = append(out, s)
	}
	return out
}

func trays(v values, dev int64) []Tray {
	order, rows := tableRows(v, dev, oidPrtInputName, oidPrtInputMax, oidPrtInputLevel, oidPrtInputStatus,
		oidPrtInputMediaName, oidPrtInputDescription, oidPrtInputType, oidPrtInputCapUnit,
		oidPrtInputDimUnit, oidPrtInputDimFeed, oidPrtInputDimXFeed, oidPrtInputChosenFeed, oidPrtInputChosenXFeed)
	out := make([]Tray, 0, len(order))
	for _, i := range order {
		c := rows[i]
		t := Tray{
			Index:       int(i),
			Name:        text(asString(c[oidPrtInputName])),
			Description: text(asString(c[oidPrtInputDescription])),
			Media:       text(asString(c[oidPrtInputMediaName])),
			Level:       -2,
			Max:         -2,
		}
		if t.Description == t.Name {
			t.Description = ""
		}
		if n, ok := asInt(c[oidPrtInputLevel]); ok {
			t.Level = n
		}
		if n, ok := asInt(c[oidPrtInputMax]); ok {
			t.Max = n
		}
		if n, ok := asInt(c[oidPrtInputType]); ok {
			t.Type = inputTypeName(n)
		}
		if n, ok := asInt(c[oidPrtInputCapUnit]); ok {
			t.Unit = capacityUnitName(n)
		}
		if n, ok := asInt(c[oidPrtInputStatus]); ok {
			t.Status = subUnitStatus(n)
		}
		unit, _ := asInt(c[oidPrtInputDimUnit])
		feed, _ := asInt(c[oidPrtInputDimFeed])
		xfeed, _ := asInt(c[oidPrtInputDimXFeed])
		t.Size = mediaSize(unit, feed, xfeed)
		if t.Size == "" {
			// Declared -2 (unknown) is common; the chosen size is then
			// what the tray feeds.
			feed, _ = asInt(c[oidPrtInputChosenFeed])
			xfeed, _ = asInt(c[oidPrtInputChosenXFeed])
			t.Size = mediaSize(unit, feed, xfeed)
		}
		t.Percent = percent(t.Level, t.Max)
		t.LevelText = levelText(t.Level, "at least one sheet")
		if t.Name == "" {
			t.Name = "Tray " + strconv.Itoa(t.Index)
		}
		out = append(out, t)
	}
	return out
}

func alerts(v values, dev int64) []Alert {
	order, rows := tableRows(v, dev, oidPrtAlertSeverity, oidPrtAlertTraining, oidPrtAlertGroup,
		oidPrtAlertGroupIndex, oidPrtAlertLocation, oidPrtAlertCode, oidPrtAlertDescription, oidPrtAlertTime)
	out := make([]Alert, 0, len(order))
	for _, i := range order {
		c := rows[i]
		a := Alert{Index: int(i), Description: text(asString(c[oidPrtAlertDescription]))}
		a.SeverityCode, _ = asInt(c[oidPrtAlertSeverity])
		a.GroupCode, _ = asInt(c[oidPrtAlertGroup])
		a.GroupIndex, _ = asInt(c[oidPrtAlertGroupIndex])
		a.Location, _ = asInt(c[oidPrtAlertLocation])
		a.Code, _ = asInt(c[oidPrtAlertCode])
		a.Time, _ = asUint(c[oidPrtAlertTime])
		training, _ := asInt(c[oidPrtAlertTraining])
		// Some agents keep empty rows (all zero): nothing to report.
		if a.SeverityCode <= 0 && a.Code <= 0 && a.Description == "" {
			continue
		}
		a.Severity = severityName(a.SeverityCode)
		a.Training = trainingName(training)
		a.Group = alertGroupName(a.GroupCode)
		a.CodeName = alertCodeName(a.Code)
		out = append(out, a)
	}
	return out
}

// percent is level/max in whole percent, when both are real amounts. A
// level above max (some printers overfill) counts as full.
func percent(level, max int64) *int {
	if max <= 0 || level < 0 {
		return nil
	}
	p := 100
	if level < max {
		p = int(math.Round(float64(level) * 100 / float64(max)))
	}
	return &p
}

// levelText puts RFC 3805's special levels in words; -3 is "some
// remaining" for a supply and "at least one sheet" for a tray.
func levelText(level int64, minusThree string) string {
	switch level {
	case -1:
		return "other"
	case -2:
		return "unknown"
	case -3:
		return minusThree
	}
	if level < -3 {
		return "invalid"
	}
	return ""
}

// text makes a printer's OCTET STRING fit for display: cut at a NUL,
// Latin-1 when it is not UTF-8 (older printers), control characters
// turned to spaces, trimmed.
func text(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if !utf8.ValidString(s) {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			b.WriteRune(rune(s[i]))
		}
		s = b.String()
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// oidText keeps an OBJECT IDENTIFIER value only when it is one.
func oidText(s string) string {
	s = strings.TrimPrefix(s, ".")
	if !validOID(s) {
		return ""
	}
	return s
}

// colourOf finds a colour name in a colorant value or a description.
func colourOf(s string) string {
	l := strings.ToLower(s)
	for _, c := range []struct{ word, colour string }{
		{"tri-color", "tri-color"}, {"tricolor", "tri-color"}, {"tri-colour", "tri-color"}, {"tricolour", "tri-color"},
		{"photo black", "photo black"}, {"matte black", "matte black"},
		{"light cyan", "light cyan"}, {"light magenta", "light magenta"},
		{"light gray", "light gray"}, {"light grey", "light gray"},
		{"black", "black"}, {"cyan", "cyan"}, {"magenta", "magenta"}, {"yellow", "yellow"},
		{"gray", "gray"}, {"grey", "gray"}, {"red", "red"}, {"green", "green"}, {"blue", "blue"},
	} {
		if containsWord(l, c.word) {
			return c.colour
		}
	}
	return ""
}

// containsWord reports whether w occurs in s between non-letters.
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		beforeOK := j == 0 || !isLetter(s[j-1])
		afterOK := j+len(w) == len(s) || !isLetter(s[j+len(w)])
		if beforeOK && afterOK {
			return true
		}
		i = j + 1
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// Part numbers in supply descriptions: "…, PN#106R02237" (Xerox); a
// description that is only part numbers, "TN-350/TN-2000" (Brother),
// "PK-3010S" (UTAX); a hyphenated code among words, "Black Toner
// TK-1150" (Kyocera).
var (
	pnTagged = regexp.MustCompile(`(?i)\bP/?N\s*[#:.]?\s*([A-Z0-9][A-Z0-9-]{3,19})\b`)
	pnAlone  = regexp.MustCompile(`^[A-Z]{1,4}-?[0-9]{2,6}[A-Z0-9]{0,4}$`)
	pnWord   = regexp.MustCompile(`(?:^|[\s,(])([A-Z]{1,4}-[0-9]{2,6}[A-Z0-9]{0,4})(?:$|[\s,)/])`)
)

// partNumber returns the part number a supply description carries, or "".
func partNumber(descr string) string {
	if m := pnTagged.FindStringSubmatch(descr); m != nil {
		return m[1]
	}
	firstPart, _, _ := strings.Cut(descr, "/")
	firstPart = strings.TrimSpace(firstPart)
	if pnAlone.MatchString(firstPart) {
		return firstPart
	}
	if m := pnWord.FindStringSubmatch(descr); m != nil {
		return m[1]
	}
	return ""
}

// mediaSize names the size of the declared media: A4, Letter..., else
// "W×H mm".
func mediaSize(unit, feed, xfeed int64) string {
	if feed <= 0 || xfeed <= 0 || feed > 10_000_000 || xfeed > 10_000_000 {
		return ""
	}
	var perMM float64
	switch unit {
	case 3: // tenThousandthsOfInches
		perMM = 10000 / 25.4
	case 4: // micrometers
		perMM = 1000
	default:
		return ""
	}
	a, b := float64(feed)/perMM, float64(xfeed)/perMM
	if a > b {
		a, b = b, a
	}
	for _, s := range []struct {
		name string
		w, h float64
	}{
		{"A3", 297, 420}, {"A4", 210, 297}, {"A5", 148, 210}, {"A6", 105, 148},
		{"B4", 257, 364}, {"B5", 182, 257},
		{"Letter", 215.9, 279.4}, {"Legal", 215.9, 355.6}, {"Executive", 184.15, 266.7},
		{"Statement", 139.7, 215.9}, {"Tabloid", 279.4, 431.8},
	} {
		if math.Abs(a-s.w) <= 2 && math.Abs(b-s.h) <= 2 {
			return s.name
		}
	}
	return fmt.Sprintf("%.0f×%.0f mm", a, b)
}
