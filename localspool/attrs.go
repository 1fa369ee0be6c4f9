package localspool

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/internal/ippserver"
)

func (c *request) getPrinterAttributes() (goipp.Groups, error) {
	if err := c.needPrinterURI(); err != nil {
		return nil, err
	}
	s := c.s
	now := s.now()
	state, queued := 3, 0 // idle
	s.mu.Lock()
	for _, j := range s.jobs {
		if j.queue != c.queue || j.state >= stateCanceled {
			continue
		}
		queued++
		if j.state == stateProcessing {
			state = 4
		}
	}
	s.mu.Unlock()
	full := s.spoolFull()
	reasons := "none"
	if full {
		// A registered printer-state-reason: clients show it, and CUPS
		// queues keep the job and retry.
		reasons = "spool-area-full"
	}

	security, auth := "none", "requesting-user-name"
	if c.secure {
		security = "tls"
	}
	if s.cfg.Users != nil {
		auth = "basic"
	}
	name, info := "tessera-print", "Tessera: print here, release at the printer"
	if c.queue == queueDirect {
		name, info = "tessera-direct", "Tessera: direct printing"
	}
	moreInfo := "http" + strings.TrimPrefix(c.base, "ipp")
	h := sha256.Sum256([]byte(s.uuid + "\x00" + c.queue))
	printerUUID := fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])

	a4 := goipp.Collection{
		goipp.MakeAttr("x-dimension", goipp.TagInteger, goipp.Integer(21000)),
		goipp.MakeAttr("y-dimension", goipp.TagInteger, goipp.Integer(29700)),
	}
	formatDefault := "application/octet-stream"
	if !slices.Contains(s.cfg.Formats, formatDefault) {
		formatDefault = s.cfg.Formats[0]
	}
	formats, formatsRest := ippserver.StringValues(s.cfg.Formats)
	sides, sidesRest := ippserver.StringValues(sidesSupported)
	colors, colorsRest := ippserver.StringValues(colorModes)
	media, mediaRest := ippserver.StringValues(mediaSupported)
	versions, versionsRest := ippserver.StringValues([]string{"1.1", "2.0"})
	charsets, charsetsRest := ippserver.StringValues([]string{"utf-8", "us-ascii"})
	attrs := goipp.Attributes{
		goipp.MakeAttr("printer-uri-supported", goipp.TagURI, goipp.String(c.base)),
		goipp.MakeAttr("uri-security-supported", goipp.TagKeyword, goipp.String(security)),
		goipp.MakeAttr("uri-authentication-supported", goipp.TagKeyword, goipp.String(auth)),
		goipp.MakeAttr("printer-name", goipp.TagName, goipp.String(name)),
		goipp.MakeAttr("printer-info", goipp.TagText, goipp.String(info)),
		goipp.MakeAttr("printer-location", goipp.TagText, goipp.String("")),
		goipp.MakeAttr("printer-more-info", goipp.TagURI, goipp.String(moreInfo)),
		goipp.MakeAttr("printer-make-and-model", goipp.TagText, goipp.String(makeAndModel)),
		goipp.MakeAttr("printer-device-id", goipp.TagText, goipp.String("MFG:Tessera;MDL:Tessera;")),
		goipp.MakeAttr("printer-uuid", goipp.TagURI, goipp.String(printerUUID)),
		goipp.MakeAttr("printer-state", goipp.TagEnum, goipp.Integer(state)),
		goipp.MakeAttr("printer-state-reasons", goipp.TagKeyword, goipp.String(reasons)),
		goipp.MakeAttr("printer-is-accepting-jobs", goipp.TagBoolean, goipp.Boolean(!full)),
		goipp.MakeAttr("queued-job-count", goipp.TagInteger, goipp.Integer(queued)),
		goipp.MakeAttr("printer-up-time", goipp.TagInteger, goipp.Integer(ippserver.UpTime(s.started, now))),
		goipp.MakeAttr("printer-current-time", goipp.TagDateTime, goipp.Time{Time: now}),
		goipp.MakeAttr("ipp-versions-supported", goipp.TagKeyword, versions, versionsRest...),
		ippserver.OperationsSupported(operations),
		goipp.MakeAttr("multiple-document-jobs-supported", goipp.TagBoolean, goipp.Boolean(false)),
		goipp.MakeAttr("multiple-operation-time-out", goipp.TagInteger, goipp.Integer(documentTimeout.Seconds())),
		goipp.MakeAttr("charset-configured", goipp.TagCharset, goipp.String("utf-8")),
		goipp.MakeAttr("charset-supported", goipp.TagCharset, charsets, charsetsRest...),
		goipp.MakeAttr("natural-language-configured", goipp.TagLanguage, goipp.String("en")),
		goipp.MakeAttr("generated-natural-language-supported", goipp.TagLanguage, goipp.String("en")),
		goipp.MakeAttr("document-format-default", goipp.TagMimeType, goipp.String(formatDefault)),
		goipp.MakeAttr("document-format-supported", goipp.TagMimeType, formats, formatsRest...),
		goipp.MakeAttr("pdl-override-supported", goipp.TagKeyword, goipp.String("not-attempted")),
		goipp.MakeAttr("compression-supported", goipp.TagKeyword, goipp.String("none")),
		goipp.MakeAttr("job-k-octets-supported", goipp.TagRange,
			goipp.Range{Lower: 0, Upper: int(min((s.cfg.MaxJobSize+1023)/1024, 1<<31-1))}),
		goipp.MakeAttr("color-supported", goipp.TagBoolean, goipp.Boolean(true)),
		goipp.MakeAttr("copies-default", goipp.TagInteger, goipp.Integer(1)),
		goipp.MakeAttr("copies-supported", goipp.TagRange, goipp.Range{Lower: 1, Upper: 999}),
		goipp.MakeAttr("sides-default", goipp.TagKeyword, goipp.String("one-sided")),
		goipp.MakeAttr("sides-supported", goipp.TagKeyword, sides, sidesRest...),
		goipp.MakeAttr("print-color-mode-default", goipp.TagKeyword, goipp.String("auto")),
		goipp.MakeAttr("print-color-mode-supported", goipp.TagKeyword, colors, colorsRest...),
		goipp.MakeAttr("job-hold-until-default", goipp.TagKeyword, goipp.String(holdUntil(c.queue))),
	}
	attrs = append(attrs, ippserver.IPP2Description()...)
	attrs = append(attrs,
		goipp.MakeAttr("media-default", goipp.TagKeyword, goipp.String(defaultMedia)),
		goipp.MakeAttr("media-supported", goipp.TagKeyword, media, mediaRest...),
		goipp.MakeAttrCollection("media-col-default", goipp.MakeAttr("media-size", goipp.TagBeginCollection, a4)),
		goipp.MakeAttr("job-creation-attributes-supported", goipp.TagKeyword, goipp.String("copies"),
			goipp.String("sides"), goipp.String("print-color-mode"), goipp.String("media"), goipp.String("job-hold-until")),
		goipp.MakeAttr("which-jobs-supported", goipp.TagKeyword, goipp.String("completed"),
			goipp.String("not-completed"), goipp.String("all")),
	)
	if c.queue == queueDirect {
		// The held queue advertises no job-hold-until-supported: it holds
		// every job, and RFC 8011 tests expect the list to offer no-hold.
		attrs = append(attrs, goipp.MakeAttr("job-hold-until-supported", goipp.TagKeyword, goipp.String("no-hold")))
	}
	return goipp.Groups{{Tag: goipp.TagPrinterGroup, Attrs: ippserver.Filter(attrs, ippserver.Requested(c.req.Operation))}}, nil
}

// jobAttributes describes j. s.mu is held.
func (c *request) jobAttributes(j *job) goipp.Attributes {
	s := c.s
	reason, message := j.reason, j.message
	if reason == "" {
		reason = "none"
	}
	if message == "" {
		message = stateName(j.state)
	}
	noValue := func(name string) goipp.Attribute { return goipp.MakeAttr(name, goipp.TagNoValue, goipp.Void{}) }
	processing, completed := noValue("time-at-processing"), noValue("time-at-completed")
	if !j.processing.IsZero() {
		processing = goipp.MakeAttr("time-at-processing", goipp.TagInteger, goipp.Integer(ippserver.UpTime(s.started, j.processing)))
	}
	if !j.completed.IsZero() {
		completed = goipp.MakeAttr("time-at-completed", goipp.TagInteger, goipp.Integer(ippserver.UpTime(s.started, j.completed)))
	}
	format := j.m.Format
	if format == "" {
		format = "application/octet-stream"
	}
	return goipp.Attributes{
		goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(j.m.JobID)),
		goipp.MakeAttr("job-uri", goipp.TagURI, goipp.String(c.base+"/"+strconv.Itoa(j.m.JobID))),
		goipp.MakeAttr("job-printer-uri", goipp.TagURI, goipp.String(c.base)),
		goipp.MakeAttr("job-name", goipp.TagName, goipp.String(j.m.Name)),
		goipp.MakeAttr("job-originating-user-name", goipp.TagName, goipp.String(j.m.Owner)),
		goipp.MakeAttr("job-state", goipp.TagEnum, goipp.Integer(j.state)),
		goipp.MakeAttr("job-state-reasons", goipp.TagKeyword, goipp.String(reason)),
		goipp.MakeAttr("job-state-message", goipp.TagText, goipp.String(message)),
		goipp.MakeAttr("job-hold-until", goipp.TagKeyword, goipp.String(holdUntil(j.queue))),
		goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String(format)),
		goipp.MakeAttr("copies", goipp.TagInteger, goipp.Integer(j.m.Copies)),
		goipp.MakeAttr("sides", goipp.TagKeyword, goipp.String(j.m.Sides)),
		goipp.MakeAttr("print-color-mode", goipp.TagKeyword, goipp.String(j.m.ColorMode)),
		goipp.MakeAttr("media", goipp.TagKeyword, goipp.String(cmp.Or(j.m.Media, defaultMedia))),
		goipp.MakeAttr("job-k-octets", goipp.TagInteger, goipp.Integer(min((j.m.Size+1023)/1024, 1<<31-1))),
		goipp.MakeAttr("job-impressions", goipp.TagInteger, goipp.Integer(min(int64(j.m.Pages)*int64(j.m.Copies), 1<<31-1))),
		goipp.MakeAttr("job-impressions-completed", goipp.TagInteger, goipp.Integer(min(int64(j.impressions), 1<<31-1))),
		goipp.MakeAttr("job-printer-up-time", goipp.TagInteger, goipp.Integer(ippserver.UpTime(s.started, s.now()))),
		goipp.MakeAttr("time-at-creation", goipp.TagInteger, goipp.Integer(ippserver.UpTime(s.started, j.created))),
		processing,
		completed,
		goipp.MakeAttr("date-time-at-creation", goipp.TagDateTime, goipp.Time{Time: j.created}),
	}
}
