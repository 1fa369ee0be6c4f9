package hub

import (
	"crypto/sha256"
	"fmt"
	"strconv"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/internal/ippserver"
)

// What the hub's printer takes: the formats IPP Everywhere requires, and
// the job template attributes a held job keeps (jobView's copies, color,
// duplex, media). Short-edge duplex is not offered: a held job keeps only
// "duplex", which the agent prints long-edge.
var (
	ippFormats    = []string{formatPDF, formatJPEG, formatPWGRaster}
	ippSides      = []string{"one-sided", "two-sided-long-edge"}
	ippColorModes = []string{"auto", "monochrome", "color"}
	ippMedia      = []ippMediaSize{{"iso_a4_210x297mm", 21000, 29700}, {"na_letter_8.5x11in", 21590, 27940}}
)

const ippDefaultMedia = "iso_a4_210x297mm"

type ippMediaSize struct {
	name string
	x, y int // hundredths of a millimetre
}

// mediaCol is a media-col value: the size and 0 margins (the hub prints
// nothing itself; the printer at release applies its own).
func (m ippMediaSize) mediaCol() goipp.Collection {
	size := goipp.Collection{
		goipp.MakeAttr("x-dimension", goipp.TagInteger, goipp.Integer(m.x)),
		goipp.MakeAttr("y-dimension", goipp.TagInteger, goipp.Integer(m.y)),
	}
	col := goipp.Collection{goipp.MakeAttr("media-size", goipp.TagBeginCollection, size)}
	for _, side := range []string{"bottom", "left", "right", "top"} {
		col = append(col, goipp.MakeAttr("media-"+side+"-margin", goipp.TagInteger, goipp.Integer(0)))
	}
	return col
}

// printerAttributes answers Get-Printer-Attributes: the attributes of
// RFC 8011, PWG 5100.12 (IPP/2.0) and PWG 5100.14 (IPP Everywhere) a
// driverless client reads to make its queue.
func (c *ippRequest) printerAttributes() (goipp.Groups, error) {
	if err := c.needPrinterURI(); err != nil {
		return nil, err
	}
	attrs := append(c.printerIdentity(), c.printerFormats()...)
	attrs = append(attrs, ippserver.IPP2Description()...)
	attrs = append(attrs, ippMediaAttributes()...)
	return goipp.Groups{{Tag: goipp.TagPrinterGroup, Attrs: ippserver.Filter(attrs, ippserver.Requested(c.req.Operation))}}, nil
}

// printerIdentity: names, state, security, versions and operations.
func (c *ippRequest) printerIdentity() goipp.Attributes {
	s := c.s
	now := s.now()
	security := "none"
	if c.hr.TLS != nil {
		security = "tls"
	}
	h := sha256.Sum256([]byte("tessera-hub-ipp\x00" + c.base))
	uuid := fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	versions, versionsRest := ippserver.StringValues([]string{"1.1", "2.0"})
	charsets, charsetsRest := ippserver.StringValues([]string{"utf-8", "us-ascii"})
	return goipp.Attributes{
		goipp.MakeAttr("printer-uri-supported", goipp.TagURI, goipp.String(c.base)),
		goipp.MakeAttr("uri-security-supported", goipp.TagKeyword, goipp.String(security)),
		goipp.MakeAttr("uri-authentication-supported", goipp.TagKeyword, goipp.String("basic")),
		goipp.MakeAttr("printer-name", goipp.TagName, goipp.String("tessera")),
		goipp.MakeAttr("printer-info", goipp.TagText, goipp.String("Tessera: print here, release at any printer")),
		goipp.MakeAttr("printer-location", goipp.TagText, goipp.String("")),
		goipp.MakeAttr("printer-geo-location", goipp.TagUnknown, goipp.Void{}),
		goipp.MakeAttr("printer-organization", goipp.TagText, goipp.String("")),
		goipp.MakeAttr("printer-organizational-unit", goipp.TagText, goipp.String("")),
		goipp.MakeAttr("printer-more-info", goipp.TagURI, goipp.String("http"+c.base[len("ipp"):len(c.base)-len(ippPath)]+"/")),
		goipp.MakeAttr("printer-make-and-model", goipp.TagText, goipp.String("Tessera Cloud Printer")),
		goipp.MakeAttr("printer-device-id", goipp.TagText, goipp.String("MFG:Tessera;MDL:Cloud Printer;CMD:PDF,JPEG,PWGRaster;")),
		goipp.MakeAttr("printer-uuid", goipp.TagURI, goipp.String(uuid)),
		goipp.MakeAttr("printer-state", goipp.TagEnum, goipp.Integer(3)),
		goipp.MakeAttr("printer-state-reasons", goipp.TagKeyword, goipp.String("none")),
		goipp.MakeAttr("printer-is-accepting-jobs", goipp.TagBoolean, goipp.Boolean(true)),
		goipp.MakeAttr("queued-job-count", goipp.TagInteger, goipp.Integer(0)),
		goipp.MakeAttr("printer-up-time", goipp.TagInteger, goipp.Integer(ippserver.UpTime(s.ipp.started, now))),
		goipp.MakeAttr("printer-current-time", goipp.TagDateTime, goipp.Time{Time: now}),
		goipp.MakeAttr("printer-config-change-date-time", goipp.TagDateTime, goipp.Time{Time: s.ipp.started}),
		goipp.MakeAttr("printer-config-change-time", goipp.TagInteger, goipp.Integer(1)),
		goipp.MakeAttr("printer-state-change-date-time", goipp.TagDateTime, goipp.Time{Time: s.ipp.started}),
		goipp.MakeAttr("printer-state-change-time", goipp.TagInteger, goipp.Integer(1)),
		goipp.MakeAttr("ipp-versions-supported", goipp.TagKeyword, versions, versionsRest...),
		goipp.MakeAttr("ipp-features-supported", goipp.TagKeyword, goipp.String("ipp-everywhere")),
		ippserver.OperationsSupported(ippOperations),
		goipp.MakeAttr("multiple-document-jobs-supported", goipp.TagBoolean, goipp.Boolean(false)),
		goipp.MakeAttr("charset-configured", goipp.TagCharset, goipp.String("utf-8")),
		goipp.MakeAttr("charset-supported", goipp.TagCharset, charsets, charsetsRest...),
		goipp.MakeAttr("natural-language-configured", goipp.TagLanguage, goipp.String("en")),
		goipp.MakeAttr("generated-natural-language-supported", goipp.TagLanguage, goipp.String("en")),
		goipp.MakeAttr("pdl-override-supported", goipp.TagKeyword, goipp.String("attempted")),
		goipp.MakeAttr("compression-supported", goipp.TagKeyword, goipp.String("none")),
		goipp.MakeAttr("printer-kind", goipp.TagKeyword, goipp.String("document")),
		goipp.MakeAttr("which-jobs-supported", goipp.TagKeyword, goipp.String("completed"),
			goipp.String("not-completed"), goipp.String("all")),
		goipp.MakeAttr("job-ids-supported", goipp.TagBoolean, goipp.Boolean(false)),
		goipp.MakeAttr("job-hold-until-default", goipp.TagKeyword, goipp.String("indefinite")),
	}
}

// printerFormats: the formats and the job template attributes.
func (c *ippRequest) printerFormats() goipp.Attributes {
	formats, formatsRest := ippserver.StringValues(ippFormats)
	sides, sidesRest := ippserver.StringValues(ippSides)
	colors, colorsRest := ippserver.StringValues(ippColorModes)
	maxK := min((c.s.cfg.MaxUpload+1023)/1024, 1<<31-1)
	dpi300 := goipp.Resolution{Xres: 300, Yres: 300, Units: goipp.UnitsDpi}
	return goipp.Attributes{
		goipp.MakeAttr("document-format-default", goipp.TagMimeType, goipp.String(formatPDF)),
		goipp.MakeAttr("document-format-supported", goipp.TagMimeType, formats, formatsRest...),
		goipp.MakeAttr("job-k-octets-supported", goipp.TagRange, goipp.Range{Lower: 0, Upper: int(maxK)}),
		goipp.MakeAttr("color-supported", goipp.TagBoolean, goipp.Boolean(true)),
		goipp.MakeAttr("copies-default", goipp.TagInteger, goipp.Integer(1)),
		goipp.MakeAttr("copies-supported", goipp.TagRange, goipp.Range{Lower: 1, Upper: maxCopies}),
		goipp.MakeAttr("sides-default", goipp.TagKeyword, goipp.String("one-sided")),
		goipp.MakeAttr("sides-supported", goipp.TagKeyword, sides, sidesRest...),
		goipp.MakeAttr("print-color-mode-default", goipp.TagKeyword, goipp.String("auto")),
		goipp.MakeAttr("print-color-mode-supported", goipp.TagKeyword, colors, colorsRest...),
		goipp.MakeAttr("job-creation-attributes-supported", goipp.TagKeyword, goipp.String("copies"),
			goipp.String("sides"), goipp.String("print-color-mode"), goipp.String("media"), goipp.String("media-col")),
		goipp.MakeAttr("pwg-raster-document-resolution-supported", goipp.TagResolution, dpi300),
		goipp.MakeAttr("pwg-raster-document-sheet-back", goipp.TagKeyword, goipp.String("normal")),
		goipp.MakeAttr("pwg-raster-document-type-supported", goipp.TagKeyword, goipp.String("black_1"),
			goipp.String("sgray_8"), goipp.String("srgb_8")),
	}
}

// ippMediaAttributes: media, media-col and their margins.
func ippMediaAttributes() goipp.Attributes {
	names := make([]string, len(ippMedia))
	var cols []goipp.Value
	var def goipp.Collection
	for i, m := range ippMedia {
		names[i] = m.name
		cols = append(cols, m.mediaCol())
		if m.name == ippDefaultMedia {
			def = m.mediaCol()
		}
	}
	media, mediaRest := ippserver.StringValues(names)
	zero := goipp.Integer(0)
	attrs := goipp.Attributes{
		goipp.MakeAttr("media-default", goipp.TagKeyword, goipp.String(ippDefaultMedia)),
		goipp.MakeAttr("media-supported", goipp.TagKeyword, media, mediaRest...),
		goipp.MakeAttr("media-ready", goipp.TagKeyword, media, mediaRest...),
		goipp.MakeAttr("media-col-default", goipp.TagBeginCollection, def),
		goipp.MakeAttr("media-col-supported", goipp.TagKeyword, goipp.String("media-size"),
			goipp.String("media-bottom-margin"), goipp.String("media-left-margin"),
			goipp.String("media-right-margin"), goipp.String("media-top-margin")),
		goipp.MakeAttr("media-bottom-margin-supported", goipp.TagInteger, zero),
		goipp.MakeAttr("media-left-margin-supported", goipp.TagInteger, zero),
		goipp.MakeAttr("media-right-margin-supported", goipp.TagInteger, zero),
		goipp.MakeAttr("media-top-margin-supported", goipp.TagInteger, zero),
	}
	db := goipp.Attribute{Name: "media-col-database"}
	ready := goipp.Attribute{Name: "media-col-ready"}
	sizes := goipp.Attribute{Name: "media-size-supported"}
	for i, col := range cols {
		db.Values.Add(goipp.TagBeginCollection, col)
		ready.Values.Add(goipp.TagBeginCollection, col)
		m := ippMedia[i]
		sizes.Values.Add(goipp.TagBeginCollection, goipp.Collection{
			goipp.MakeAttr("x-dimension", goipp.TagInteger, goipp.Integer(m.x)),
			goipp.MakeAttr("y-dimension", goipp.TagInteger, goipp.Integer(m.y)),
		})
	}
	return append(attrs, db, ready, sizes)
}

// ippJobState is a hub job's state as IPP's job-state enum and a
// job-state-reasons keyword.
func ippJobState(state string) (int, string) {
	switch state {
	case stateHeld:
		return 4, "job-hold-until-specified" // pending-held: until released at a printer
	case statePrinting:
		return 5, "job-printing"
	case statePrinted:
		return 9, "job-completed-successfully"
	case stateFailed:
		return 8, "aborted-by-system"
	default: // deleted, expired
		return 7, "job-canceled-by-user"
	}
}

// jobAttributes describes a job of the user's.
func (c *ippRequest) jobAttributes(j jobView) goipp.Attributes {
	state, reason := ippJobState(j.State)
	sides, color := "one-sided", "monochrome"
	if j.Duplex {
		sides = "two-sided-long-edge"
	}
	if j.Color {
		color = "color"
	}
	created := ippserver.UpTime(c.s.ipp.started, j.SubmittedAt)
	return goipp.Attributes{
		goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(int(j.seq))),
		goipp.MakeAttr("job-uri", goipp.TagURI, goipp.String(c.base+"/"+strconv.FormatInt(j.seq, 10))),
		goipp.MakeAttr("job-printer-uri", goipp.TagURI, goipp.String(c.base)),
		goipp.MakeAttr("job-uuid", goipp.TagURI, goipp.String("urn:uuid:"+uuidOf(j.ID))),
		goipp.MakeAttr("job-name", goipp.TagName, goipp.String(j.Name)),
		goipp.MakeAttr("job-originating-user-name", goipp.TagName, goipp.String(j.Owner)),
		goipp.MakeAttr("job-state", goipp.TagEnum, goipp.Integer(state)),
		goipp.MakeAttr("job-state-reasons", goipp.TagKeyword, goipp.String(reason)),
		goipp.MakeAttr("job-state-message", goipp.TagText, goipp.String(j.State)),
		goipp.MakeAttr("job-hold-until", goipp.TagKeyword, goipp.String("indefinite")),
		goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String(j.Format)),
		goipp.MakeAttr("copies", goipp.TagInteger, goipp.Integer(j.Copies)),
		goipp.MakeAttr("sides", goipp.TagKeyword, goipp.String(sides)),
		goipp.MakeAttr("print-color-mode", goipp.TagKeyword, goipp.String(color)),
		goipp.MakeAttr("media", goipp.TagKeyword, goipp.String(cmpOr(j.Media, ippDefaultMedia))),
		goipp.MakeAttr("job-k-octets", goipp.TagInteger, goipp.Integer(min((j.Size+1023)/1024, 1<<31-1))),
		goipp.MakeAttr("job-impressions", goipp.TagInteger, goipp.Integer(min(int64(j.Pages)*int64(j.Copies), 1<<31-1))),
		goipp.MakeAttr("job-impressions-completed", goipp.TagInteger, goipp.Integer(min(j.PrintedPages, 1<<31-1))),
		goipp.MakeAttr("job-printer-up-time", goipp.TagInteger, goipp.Integer(ippserver.UpTime(c.s.ipp.started, c.s.now()))),
		goipp.MakeAttr("time-at-creation", goipp.TagInteger, goipp.Integer(created)),
		goipp.MakeAttr("time-at-processing", goipp.TagNoValue, goipp.Void{}),
		goipp.MakeAttr("time-at-completed", goipp.TagNoValue, goipp.Void{}),
		goipp.MakeAttr("date-time-at-creation", goipp.TagDateTime, goipp.Time{Time: j.SubmittedAt}),
	}
}

// uuidOf shapes a hub job id as a UUID's text (RFC 4122 layout of its
// SHA-256): job-uuid must be a urn:uuid.
func uuidOf(id string) string {
	h := sha256.Sum256([]byte(id))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
