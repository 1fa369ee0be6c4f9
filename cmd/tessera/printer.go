package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tessera-print/tessera/printer/snmp"
)

const printerUsage = `usage: tessera printer status [flags] TARGET

TARGET is HOST[:PORT] with the flags below, or an snmp:// URL carrying the
same settings:
  snmp://[COMMUNITY@]HOST[:PORT]?version=2c&timeout=2s&retries=1&bulk=true&max-repetitions=10&deadline=10s
  snmp://USER@HOST[:PORT]?version=3&level=authPriv&auth=SHA-256&auth-pass-file=F&priv=AES&priv-pass-file=F
Pass phrases are read from files only.

flags:
`

// runPrinter is `tessera printer ...`.
func runPrinter(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		printerFlags(stderr).fs.Usage()
		if len(args) == 0 {
			return errors.New("printer: no subcommand (want: status)")
		}
		return nil
	}
	if args[0] != "status" {
		return fmt.Errorf("printer: unknown subcommand %q (want: status)", args[0])
	}
	return printerStatus(ctx, args[1:], stdout, stderr)
}

type printerOpts struct {
	fs        *flag.FlagSet
	json      bool
	debug     bool
	version   string
	community string
	user      string
	authProto string
	authFile  string
	privProto string
	privFile  string
	level     string
	timeout   time.Duration
	retries   int
	maxReps   int
	noBulk    bool
	deadline  time.Duration
}

func printerFlags(stderr io.Writer) *printerOpts {
	o := &printerOpts{fs: flag.NewFlagSet("tessera printer status", flag.ContinueOnError)}
	fs := o.fs
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, printerUsage)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.json, "json", false, "print one JSON object")
	fs.BoolVar(&o.debug, "debug", false, "log the SNMP exchange to stderr")
	fs.StringVar(&o.version, "snmp-version", "2c", "SNMP version: 1, 2c or 3")
	fs.StringVar(&o.community, "community", snmp.DefaultCommunity, "community (v1, v2c)")
	fs.StringVar(&o.user, "snmp-user", "", "SNMPv3 user")
	fs.StringVar(&o.authProto, "auth-proto", "", "SNMPv3 authentication: SHA or SHA-256 (default SHA)")
	fs.StringVar(&o.authFile, "auth-pass-file", "", "file holding the SNMPv3 authentication pass phrase")
	fs.StringVar(&o.privProto, "priv-proto", "", "SNMPv3 privacy: AES (default AES)")
	fs.StringVar(&o.privFile, "priv-pass-file", "", "file holding the SNMPv3 privacy pass phrase")
	fs.StringVar(&o.level, "level", "", "SNMPv3 level: noAuthNoPriv, authNoPriv or authPriv (default: what the pass files allow)")
	fs.DurationVar(&o.timeout, "timeout", snmp.DefaultTimeout, "timeout of one request")
	fs.IntVar(&o.retries, "retries", snmp.DefaultRetries, "resends of a request without answer")
	fs.IntVar(&o.maxReps, "max-repetitions", snmp.DefaultMaxRepetitions, "GETBULK max-repetitions")
	fs.BoolVar(&o.noBulk, "no-bulk", false, "walk with GETNEXT instead of GETBULK")
	fs.DurationVar(&o.deadline, "deadline", snmp.DefaultDeadline, "limit for the whole read")
	return o
}

// parseInterspersed parses flags before and after the one positional
// argument, so that both "status --json HOST" and "status HOST --json" work.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func printerStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := printerFlags(stderr)
	pos, err := parseInterspersed(o.fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		o.fs.Usage()
		return fmt.Errorf("printer status: want one TARGET, got %d", len(pos))
	}
	s, err := o.settings(pos[0])
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if o.debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	c, err := snmp.New(s, logger)
	if err != nil {
		return err
	}
	r, err := c.Read(ctx)
	if err != nil {
		if errors.Is(err, snmp.ErrNoAnswer) {
			return fmt.Errorf("printer %s is unreachable: %w\n  (check the address, the SNMP version and the %s)",
				s.Target, err, map[bool]string{true: "SNMPv3 user", false: "community"}[s.Version == "3"])
		}
		return err
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return printReading(stdout, r)
}

// settings builds the SNMP settings from the target and the flags. A URL
// target carries every setting itself, so other flags are refused with it.
func (o *printerOpts) settings(target string) (snmp.Settings, error) {
	if strings.HasPrefix(target, "snmp://") {
		var clash []string
		o.fs.Visit(func(f *flag.Flag) {
			if f.Name != "json" && f.Name != "debug" {
				clash = append(clash, "--"+f.Name)
			}
		})
		if len(clash) > 0 {
			return snmp.Settings{}, fmt.Errorf("printer status: %s given with an snmp:// URL; put the settings in the URL", strings.Join(clash, ", "))
		}
		return snmp.ParseURL(target, os.ReadFile)
	}
	s := snmp.DefaultSettings(target)
	s.Version = o.version
	s.Timeout, s.Retries, s.MaxRepetitions, s.Bulk, s.Deadline = o.timeout, o.retries, o.maxReps, !o.noBulk, o.deadline
	if o.version == "3" {
		s.Community = ""
		if o.set("community") {
			return s, errors.New("printer status: --community is for SNMP v1 and v2c; v3 takes --snmp-user")
		}
		s.User, s.Level, s.AuthProto, s.PrivProto = o.user, o.level, o.authProto, o.privProto
		var err error
		if o.authFile != "" {
			if s.AuthPass, err = snmp.ReadPassFile(os.ReadFile, o.authFile); err != nil {
				return s, err
			}
		}
		if o.privFile != "" {
			if s.PrivPass, err = snmp.ReadPassFile(os.ReadFile, o.privFile); err != nil {
				return s, err
			}
		}
	} else {
		s.Community = o.community
		if o.user != "" || o.level != "" || o.authFile != "" || o.privFile != "" || o.authProto != "" || o.privProto != "" {
			return s, errors.New("printer status: --snmp-user, --level, --auth-* and --priv-* need --snmp-version 3")
		}
	}
	s.FillDefaults()
	return s, s.Validate()
}

// set reports whether the flag was given on the command line.
func (o *printerOpts) set(name string) bool {
	found := false
	o.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// printReading writes the technician's summary, without the trailing
// blanks that tabwriter leaves after empty last columns.
func printReading(out io.Writer, r *snmp.Reading) error {
	var buf bytes.Buffer
	writeReading(&buf, r)
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(out, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

func writeReading(w io.Writer, r *snmp.Reading) {
	writeIdentity(w, r)
	writeStatus(w, r)
	writeCounters(w, r.Counters)
	writeSupplies(w, r.Supplies)
	writeTrays(w, r.Trays)
	writeAlerts(w, r.Alerts)
	writeLines(w, "Console", "  | ", r.Console)
	writeLines(w, "Problems while reading", "  ", r.Problems)
}

// writeIdentity writes the printer's name and who it is.
func writeIdentity(w io.Writer, r *snmp.Reading) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	title := r.Model
	if r.Vendor != "" && !strings.HasPrefix(strings.ToLower(title), strings.ToLower(r.Vendor)) {
		title = r.Vendor + " " + title
	}
	fmt.Fprintln(tw, title)
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "  %s\t%s\n", name, value)
		}
	}
	field("Vendor", r.Vendor)
	field("Serial", or(r.Serial, "(not reported)"))
	field("MAC", r.MAC)
	field("Name", r.SysName)
	field("Location", r.SysLocation)
	field("sysObjectID", r.SysObjectID)
	if r.SysDescr != r.Model {
		field("Description", r.SysDescr)
	}
	tw.Flush()
}

// writeStatus writes whether the printer can print, and why not.
func writeStatus(w io.Writer, r *snmp.Reading) {
	fmt.Fprintln(w)
	can := "can print"
	if !r.Status.CanPrint {
		can = "CANNOT PRINT"
	}
	fmt.Fprintf(w, "Status  %s, %s\n", strings.ToUpper(r.Status.State), can)
	var detail []string
	if r.DeviceStatus != "" {
		detail = append(detail, "device "+r.DeviceStatus)
	}
	if r.PrinterStatus != "" {
		detail = append(detail, "printer "+r.PrinterStatus)
	}
	if len(detail) > 0 {
		fmt.Fprintf(w, "  (%s)\n", strings.Join(detail, ", "))
	}
	for _, rs := range r.Status.Reasons {
		mark, tag := "-", ""
		if rs.Blocking {
			mark, tag = "!", "  (blocking)"
		}
		fmt.Fprintf(w, "  %s %s%s\n", mark, rs.Message, tag)
	}
}

// writeCounters writes the page counters, right-aligned.
func writeCounters(w io.Writer, counters snmp.Counters) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Counters")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	names := []string{snmp.CounterTotal, snmp.CounterMono, snmp.CounterColor, snmp.CounterPrint, snmp.CounterCopy, snmp.CounterScan, snmp.CounterFax}
	shown := 0
	for _, n := range names {
		if v, ok := counters[n]; ok {
			fmt.Fprintf(tw, "  %s\t%s\t\n", n, groupDigits(v))
			shown++
		}
	}
	if shown == 0 {
		fmt.Fprintln(tw, "  (none reported)\t")
	}
	tw.Flush()
}

// writeSupplies writes the toner, ink and other supplies, with levels.
func writeSupplies(w io.Writer, supplies []snmp.Supply) {
	if len(supplies) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Supplies")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range supplies {
		extra := []string{}
		if s.Type != "" {
			extra = append(extra, s.Type)
		}
		if s.PartNumber != "" {
			extra = append(extra, "part "+s.PartNumber)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", or(s.Description, "(no description)"), bar(s.Percent), amount(s.Level, s.Max, s.Percent, s.LevelText, s.Class == "receptacle"), strings.Join(extra, ", "))
	}
	tw.Flush()
}

// writeTrays writes the paper trays, with levels.
func writeTrays(w io.Writer, trays []snmp.Tray) {
	if len(trays) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Trays")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range trays {
		media := strings.TrimSpace(strings.Join(nonEmpty(t.Media, t.Size), " "))
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", t.Name, media, bar(t.Percent), amount(t.Level, t.Max, t.Percent, t.LevelText, false), t.Status)
	}
	tw.Flush()
}

// writeAlerts writes the printer's alert table.
func writeAlerts(w io.Writer, alerts []snmp.Alert) {
	fmt.Fprintln(w)
	if len(alerts) == 0 {
		fmt.Fprintln(w, "Alerts  none")
		return
	}
	fmt.Fprintf(w, "Alerts (%d)\n", len(alerts))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, a := range alerts {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", a.Severity, a.Group, a.CodeName, a.Description)
	}
	tw.Flush()
}

// writeLines writes a titled block of lines, if there are any.
func writeLines(w io.Writer, title, prefix string, lines []string) {
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, title)
	for _, l := range lines {
		fmt.Fprintf(w, "%s%s\n", prefix, l)
	}
}

// bar draws a percentage as ten cells.
func bar(p *int) string {
	if p == nil {
		return "[    ?     ]"
	}
	n := min(max((*p+5)/10, 0), 10)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", 10-n) + "]"
}

func amount(level, maxv int64, p *int, levelText string, receptacle bool) string {
	var s string
	switch {
	case p != nil:
		s = fmt.Sprintf("%3d%%  (%d/%d)", *p, level, maxv)
	case levelText != "":
		s = levelText
	default:
		s = strconv.FormatInt(level, 10)
	}
	if receptacle {
		s += " room left"
	}
	return s
}

func groupDigits(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func nonEmpty(ss ...string) []string {
	return slices.DeleteFunc(ss, func(s string) bool { return s == "" })
}
