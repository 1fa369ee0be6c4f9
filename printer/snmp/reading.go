package snmp

import (
	"encoding/json"
)

// Counter names. A reading holds only those the printer reports.
const (
	CounterTotal = "total" // prtMarkerLifeCount, else the vendor's total
	CounterMono  = "mono"
	CounterColor = "color"
	CounterPrint = "print"
	CounterCopy  = "copy"
	CounterScan  = "scan"
	CounterFax   = "fax"
)

// Counters are page counters by name (CounterTotal...).
type Counters map[string]uint64

// Reading is everything one full read learnt about the printer. It
// marshals to the JSON of `tessera printer status --json`.
type Reading struct {
	Vendor      string
	Model       string
	Serial      string
	MAC         string // ifPhysAddress of the first interface that is not a loopback
	SysDescr    string
	SysObjectID string
	SysName     string
	SysLocation string
	DeviceDescr string // hrDeviceDescr of the printer device

	Status        Status
	DeviceStatus  string   // hrDeviceStatus: running, warning, testing, down, unknown
	PrinterStatus string   // hrPrinterStatus: idle, printing, warmup, other, unknown
	ErrorState    []string // names of the hrPrinterDetectedErrorState bits set

	Counters Counters
	Supplies []Supply
	Trays    []Tray
	Alerts   []Alert
	Console  []string // prtConsoleDisplayBufferText lines

	// Problems are the parts of the read that failed without failing it
	// (a table whose OIDs went backwards, a vendor profile that erred).
	Problems []string

	device int64 // hrDeviceIndex of the printer, for Check
}

// Supply is a row of prtMarkerSuppliesTable.
type Supply struct {
	Index       int    `json:"index"`
	Description string `json:"description"`
	Type        string `json:"type"`            // PrtMarkerSuppliesTypeTC name: toner, wasteToner, ink, opc...
	Class       string `json:"class,omitempty"` // consumed, or receptacle (level is then the room left)
	Unit        string `json:"unit,omitempty"`  // PrtMarkerSuppliesSupplyUnitTC name
	// Level and Max are as the printer says, with RFC 3805's special
	// values: -1 other, -2 unknown, -3 (level only) some remaining.
	Level      int64  `json:"level"`
	Max        int64  `json:"max"`
	Percent    *int   `json:"percent"`              // nil unless Level and Max make one
	LevelText  string `json:"level_text,omitempty"` // words for a special level
	Colour     string `json:"colour,omitempty"`     // black, cyan, magenta, yellow, tri-color...
	Colorant   string `json:"colorant,omitempty"`   // prtMarkerColorantValue, as the printer says
	PartNumber string `json:"part_number,omitempty"`
}

// Tray is a row of prtInputTable.
type Tray struct {
	Index       int    `json:"index"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Type        string `json:"type,omitempty"` // PrtInputTypeTC name
	Media       string `json:"media,omitempty"`
	Size        string `json:"size,omitempty"` // A4, Letter... or W×H mm
	Unit        string `json:"unit,omitempty"`
	Level       int64  `json:"level"` // -1 other, -2 unknown, -3 at least one sheet
	Max         int64  `json:"max"`
	Percent     *int   `json:"percent"`
	LevelText   string `json:"level_text,omitempty"`
	Status      string `json:"status,omitempty"` // prtInputStatus in words
}

// Alert is a row of prtAlertTable.
type Alert struct {
	Index        int    `json:"index"`
	Severity     string `json:"severity"` // critical, warning, warning-binary-change, other
	SeverityCode int64  `json:"-"`
	Training     string `json:"training,omitempty"`
	Group        string `json:"group"` // PrtAlertGroupTC name
	GroupCode    int64  `json:"-"`
	GroupIndex   int64  `json:"group_index"`
	Location     int64  `json:"location"`
	Code         int64  `json:"code"`
	CodeName     string `json:"code_name"` // PrtAlertCodeTC name
	Description  string `json:"description"`
	Time         uint64 `json:"time"` // sysUpTime when raised, hundredths of a second
}

// readingJSON is the wire shape of a Reading.
type readingJSON struct {
	Vendor        string   `json:"vendor"`
	Model         string   `json:"model"`
	Serial        string   `json:"serial"`
	Status        string   `json:"status"`
	Reasons       []Reason `json:"reasons"`
	CanPrint      bool     `json:"can_print"`
	Counters      Counters `json:"counters"`
	Supplies      []Supply `json:"supplies"`
	Alerts        []Alert  `json:"alerts"`
	Trays         []Tray   `json:"trays"`
	Console       []string `json:"console"`
	MAC           string   `json:"mac,omitempty"`
	SysDescr      string   `json:"sys_descr,omitempty"`
	SysObjectID   string   `json:"sys_object_id,omitempty"`
	SysName       string   `json:"sys_name,omitempty"`
	SysLocation   string   `json:"sys_location,omitempty"`
	DeviceDescr   string   `json:"device_descr,omitempty"`
	DeviceStatus  string   `json:"device_status,omitempty"`
	PrinterStatus string   `json:"printer_status,omitempty"`
	ErrorState    []string `json:"error_state"`
	Problems      []string `json:"problems,omitempty"`
}

// MarshalJSON writes the reading as one object with the keys vendor,
// model, serial, status, reasons, counters, supplies, alerts, and more.
// Lists are [] rather than null when empty.
func (r Reading) MarshalJSON() ([]byte, error) {
	return json.Marshal(readingJSON{
		Vendor: r.Vendor, Model: r.Model, Serial: r.Serial,
		Status: r.Status.State, Reasons: nonNil(r.Status.Reasons), CanPrint: r.Status.CanPrint,
		Counters: nonNilMap(r.Counters), Supplies: nonNil(r.Supplies), Alerts: nonNil(r.Alerts),
		Trays: nonNil(r.Trays), Console: nonNil(r.Console),
		MAC: r.MAC, SysDescr: r.SysDescr, SysObjectID: r.SysObjectID, SysName: r.SysName,
		SysLocation: r.SysLocation, DeviceDescr: r.DeviceDescr,
		DeviceStatus: r.DeviceStatus, PrinterStatus: r.PrinterStatus,
		ErrorState: nonNil(r.ErrorState), Problems: r.Problems,
	})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (r *Reading) UnmarshalJSON(b []byte) error {
	var j readingJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Reading{
		Vendor: j.Vendor, Model: j.Model, Serial: j.Serial,
		Status:   Status{State: j.Status, Reasons: j.Reasons, CanPrint: j.CanPrint},
		Counters: j.Counters, Supplies: j.Supplies, Alerts: j.Alerts, Trays: j.Trays, Console: j.Console,
		MAC: j.MAC, SysDescr: j.SysDescr, SysObjectID: j.SysObjectID, SysName: j.SysName,
		SysLocation: j.SysLocation, DeviceDescr: j.DeviceDescr,
		DeviceStatus: j.DeviceStatus, PrinterStatus: j.PrinterStatus,
		ErrorState: j.ErrorState, Problems: j.Problems,
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nonNilMap(c Counters) Counters {
	if c == nil {
		return Counters{}
	}
	return c
}
