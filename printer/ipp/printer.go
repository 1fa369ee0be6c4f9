package ipp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goipp "github.com/phin1x/go-ipp"
)

// PrinterInfo is what the printer says about itself.
type PrinterInfo struct {
	Name            string
	MakeAndModel    string
	State           string   // idle, processing or stopped
	StateReasons    []string // printer-state-reasons without "none"
	AcceptingJobs   bool
	DocumentFormats []string // document-format-supported
	ColorSupported  bool
	SidesSupported  []string
	UUID            string // printer-uuid, e.g. "urn:uuid:..."
	SerialNumber    string // from printer-device-id (SN:, SERN:) when reported
}

// Supports reports whether the printer takes documents of this MIME type.
// Only an exact match counts: a printer that lists just
// application/octet-stream guesses formats, which is no promise to print a
// PDF.
func (p PrinterInfo) Supports(format string) bool {
	f := mediaType(format)
	for _, s := range p.DocumentFormats {
		if mediaType(s) == f {
			return true
		}
	}
	return false
}

func mediaType(s string) string {
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return strings.ToLower(strings.TrimSpace(s))
}

var printerAttributes = []string{
	"printer-name", "printer-make-and-model", "printer-state", "printer-state-reasons",
	"printer-is-accepting-jobs", "document-format-supported", "color-supported",
	"sides-supported", "printer-uuid", "printer-device-id",
}

// Info asks the printer for its description and state
// (Get-Printer-Attributes).
func (c *Client) Info(ctx context.Context) (PrinterInfo, error) {
	r := c.request(goipp.OperationGetPrinterAttributes, c.user)
	r.OperationAttributes[goipp.AttributeRequestedAttributes] = printerAttributes
	head, err := encodeRequest(r, false, nil)
	if err != nil {
		return PrinterInfo{}, fmt.Errorf("Get-Printer-Attributes: %w", err)
	}
	resp, err := c.do(ctx, "Get-Printer-Attributes", head, nil, 0)
	if err != nil {
		return PrinterInfo{}, err
	}
	if len(resp.PrinterAttributes) == 0 {
		return PrinterInfo{}, errors.New("Get-Printer-Attributes: no printer attributes in the response")
	}
	a := resp.PrinterAttributes[0]
	info := PrinterInfo{
		Name:            firstString(a, "printer-name"),
		MakeAndModel:    firstString(a, "printer-make-and-model"),
		AcceptingJobs:   firstBool(a, "printer-is-accepting-jobs"),
		DocumentFormats: allStrings(a, "document-format-supported"),
		ColorSupported:  firstBool(a, "color-supported"),
		SidesSupported:  allStrings(a, "sides-supported"),
		UUID:            firstString(a, "printer-uuid"),
		SerialNumber:    deviceIDSerial(firstString(a, "printer-device-id")),
	}
	switch st, _ := firstInt(a, "printer-state"); st {
	case int(goipp.PrinterStateIdle):
		info.State = "idle"
	case int(goipp.PrinterStateProcessing):
		info.State = "processing"
	case int(goipp.PrinterStateStopped):
		info.State = "stopped"
	default:
		info.State = fmt.Sprintf("unknown(%d)", st)
	}
	for _, r := range allStrings(a, "printer-state-reasons") {
		if r != "none" {
			info.StateReasons = append(info.StateReasons, r)
		}
	}
	return info, nil
}

// deviceIDSerial picks the serial number out of an IEEE 1284 device ID
// ("MFG:HP;MDL:...;SN:CN12345;"). Vendors use SN, SERN or SERIALNUMBER.
func deviceIDSerial(id string) string {
	for _, field := range strings.Split(id, ";") {
		k, v, ok := strings.Cut(field, ":")
		if !ok {
			continue
		}
		switch strings.ToUpper(strings.TrimSpace(k)) {
		case "SN", "SERN", "SERIALNUMBER", "SERIAL":
			return strings.TrimSpace(v)
		}
	}
	return ""
}
