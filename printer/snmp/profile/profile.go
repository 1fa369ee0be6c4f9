package profile

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

//go:embed profiles/*.json
var builtinFS embed.FS

// Counter names a profile may report. They are the keys of
// Result.Counters and of the JSON status output.
const (
	Total = "total"
	Mono  = "mono"
	Color = "color"
	Print = "print"
	Copy  = "copy"
	Scan  = "scan"
	Fax   = "fax"
)

var counterNames = map[string]bool{Total: true, Mono: true, Color: true, Print: true, Copy: true, Scan: true, Fax: true}

// maxFileSize bounds a profile file: real ones are a few kilobytes, and a
// site override must not make the agent read an unbounded file.
const maxFileSize = 1 << 20

// Profile is one vendor's profile, loaded from a data file.
type Profile struct {
	Vendor string // as printed to people, e.g. "Kyocera"
	File   string // the data file it was loaded from

	enterprises []int
	patterns    []*regexp.Regexp // against sysDescr and hrDeviceDescr
	model       []string         // first non-empty answer wins
	serial      []string
	firmware    []string
	scalars     []scalarCounter
	tables      []table
	derive      []derivation
}

type scalarCounter struct {
	oid, counter string
}

type table struct {
	values string // column holding the counts
	keys   string // column naming each row; empty: rows match by index
	rows   []row
}

type row struct {
	key     string   // compared with the key column's value
	index   []string // or the row's index, arc by arc, "*" for any arc
	counter string
}

type derivation struct {
	counter string
	sum     []string
}

// The JSON form of a profile. Every OID carries the source it was taken
// from; Load refuses an entry without one.
type fileProfile struct {
	Vendor   string        `json:"vendor"`
	Notes    string        `json:"notes,omitempty"`
	Match    fileMatch     `json:"match"`
	Model    []fileOID     `json:"model,omitempty"`
	Serial   []fileOID     `json:"serial,omitempty"`
	Firmware []fileOID     `json:"firmware,omitempty"`
	Counters []fileCounter `json:"counters,omitempty"`
	Tables   []fileTable   `json:"tables,omitempty"`
	Derive   []fileDerive  `json:"derive,omitempty"`
}

type fileMatch struct {
	Enterprises []int    `json:"enterprises,omitempty"`
	Descr       []string `json:"descr,omitempty"` // regexps, case-insensitive, on sysDescr and hrDeviceDescr
	Source      string   `json:"source"`
}

type fileOID struct {
	OID    string `json:"oid"`
	Source string `json:"source"`
}

type fileCounter struct {
	Counter string `json:"counter"`
	OID     string `json:"oid"`
	Source  string `json:"source"`
}

type fileTable struct {
	Values     string    `json:"values"`
	Source     string    `json:"source"`
	Keys       string    `json:"keys,omitempty"`
	KeysSource string    `json:"keys_source,omitempty"`
	Rows       []fileRow `json:"rows"`
	Notes      string    `json:"notes,omitempty"`
}

type fileRow struct {
	Key     string `json:"key,omitempty"`
	Index   string `json:"index,omitempty"`
	Counter string `json:"counter"`
	Source  string `json:"source"`
}

type fileDerive struct {
	Counter string   `json:"counter"`
	Sum     []string `json:"sum"`
	Source  string   `json:"source"`
}

// Builtin returns the profiles shipped inside the binary.
func Builtin() ([]*Profile, error) {
	sub, err := fs.Sub(builtinFS, "profiles")
	if err != nil {
		return nil, fmt.Errorf("builtin profiles: %w", err)
	}
	return Load(sub)
}

// Load reads every *.json file at the root of fsys, in name order.
func Load(fsys fs.FS) ([]*Profile, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, fmt.Errorf("list profiles: %w", err)
	}
	sort.Strings(names)
	ps := make([]*Profile, 0, len(names))
	for _, name := range names {
		p, err := loadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", name, err)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func loadFile(fsys fs.FS, name string) (*Profile, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	return parse(path.Base(name), b)
}

func parse(name string, b []byte) (*Profile, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt key must not silently drop an OID
	var fp fileProfile
	if err := dec.Decode(&fp); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the profile object")
	}
	return fp.compile(name)
}

func (fp *fileProfile) compile(name string) (*Profile, error) {
	p := &Profile{Vendor: strings.TrimSpace(fp.Vendor), File: name}
	if p.Vendor == "" {
		return nil, errors.New("vendor is empty")
	}
	if fp.Match.Source == "" {
		return nil, errors.New("match: source is empty")
	}
	if len(fp.Match.Enterprises) == 0 && len(fp.Match.Descr) == 0 {
		return nil, errors.New("match: neither enterprises nor descr")
	}
	for _, e := range fp.Match.Enterprises {
		if e <= 0 {
			return nil, fmt.Errorf("match: enterprise %d is not a private enterprise number", e)
		}
		p.enterprises = append(p.enterprises, e)
	}
	for _, d := range fp.Match.Descr {
		if d == "" {
			return nil, errors.New("match: empty descr pattern")
		}
		re, err := regexp.Compile("(?i)" + d)
		if err != nil {
			return nil, fmt.Errorf("match: descr %q: %w", d, err)
		}
		p.patterns = append(p.patterns, re)
	}
	for _, o := range fp.Model {
		if err := checkOID("model", o.OID, o.Source); err != nil {
			return nil, err
		}
		p.model = append(p.model, o.OID)
	}
	for _, o := range fp.Serial {
		if err := checkOID("serial", o.OID, o.Source); err != nil {
			return nil, err
		}
		p.serial = append(p.serial, o.OID)
	}
	for _, o := range fp.Firmware {
		if err := checkOID("firmware", o.OID, o.Source); err != nil {
			return nil, err
		}
		p.firmware = append(p.firmware, o.OID)
	}
	for _, c := range fp.Counters {
		if err := checkCounter(c.Counter); err != nil {
			return nil, err
		}
		if err := checkOID("counter "+c.Counter, c.OID, c.Source); err != nil {
			return nil, err
		}
		p.scalars = append(p.scalars, scalarCounter{oid: c.OID, counter: c.Counter})
	}
	for i, ft := range fp.Tables {
		t, err := ft.compile()
		if err != nil {
			return nil, fmt.Errorf("table %d: %w", i+1, err)
		}
		p.tables = append(p.tables, t)
	}
	for _, d := range fp.Derive {
		if err := checkCounter(d.Counter); err != nil {
			return nil, fmt.Errorf("derive: %w", err)
		}
		if d.Source == "" {
			return nil, fmt.Errorf("derive %s: source is empty", d.Counter)
		}
		if len(d.Sum) < 2 {
			return nil, fmt.Errorf("derive %s: a sum needs two counters", d.Counter)
		}
		for _, s := range d.Sum {
			if err := checkCounter(s); err != nil {
				return nil, fmt.Errorf("derive %s: %w", d.Counter, err)
			}
			if s == d.Counter {
				return nil, fmt.Errorf("derive %s: sums itself", d.Counter)
			}
		}
		p.derive = append(p.derive, derivation{counter: d.Counter, sum: d.Sum})
	}
	return p, nil
}

func (ft *fileTable) compile() (table, error) {
	t := table{values: ft.Values, keys: ft.Keys}
	if err := checkOID("values", ft.Values, ft.Source); err != nil {
		return t, err
	}
	if ft.Keys != "" {
		if err := checkOID("keys", ft.Keys, ft.KeysSource); err != nil {
			return t, err
		}
	}
	if len(ft.Rows) == 0 {
		return t, errors.New("no rows")
	}
	seen := map[string]bool{}
	for _, fr := range ft.Rows {
		if err := checkCounter(fr.Counter); err != nil {
			return t, err
		}
		if fr.Source == "" {
			return t, fmt.Errorf("row for %s: source is empty", fr.Counter)
		}
		r := row{counter: fr.Counter}
		switch {
		case ft.Keys != "" && fr.Key != "" && fr.Index == "":
			r.key = strings.TrimSpace(fr.Key)
			if seen[strings.ToLower(r.key)] {
				return t, fmt.Errorf("key %q listed twice", fr.Key)
			}
			seen[strings.ToLower(r.key)] = true
		case ft.Keys == "" && fr.Index != "" && fr.Key == "":
			arcs := strings.Split(fr.Index, ".")
			for _, a := range arcs {
				if a != "*" && !isArc(a) {
					return t, fmt.Errorf("index %q: arc %q is neither a number nor *", fr.Index, a)
				}
			}
			if seen[fr.Index] {
				return t, fmt.Errorf("index %q listed twice", fr.Index)
			}
			seen[fr.Index] = true
			r.index = arcs
		default:
			return t, fmt.Errorf("row for %s: give key when the table has a keys column, index otherwise", fr.Counter)
		}
		t.rows = append(t.rows, r)
	}
	return t, nil
}

func checkCounter(c string) error {
	if !counterNames[c] {
		return fmt.Errorf("unknown counter %q (want total, mono, color, print, copy, scan or fax)", c)
	}
	return nil
}

func checkOID(what, oid, source string) error {
	if !validOID(oid) {
		return fmt.Errorf("%s: %q is not a numeric OID without a leading dot", what, oid)
	}
	if strings.TrimSpace(source) == "" {
		return fmt.Errorf("%s %s: source is empty", what, oid)
	}
	return nil
}

// validOID accepts numeric OIDs of at least two arcs, written without a
// leading dot, the form the Getter uses.
func validOID(oid string) bool {
	arcs := strings.Split(oid, ".")
	if len(arcs) < 2 {
		return false
	}
	for _, a := range arcs {
		if !isArc(a) {
			return false
		}
	}
	return true
}

func isArc(a string) bool {
	if a == "" || len(a) > 10 || (len(a) > 1 && a[0] == '0') {
		return false
	}
	_, err := strconv.ParseUint(a, 10, 32)
	return err == nil
}

// SerialOIDs are the vendor objects that carry the serial number where
// prtGeneralSerialNumber is empty, in the order they are tried. The fast
// pre-release check asks them too, so a replaced printer of such a vendor
// is recognised before a job is sent to it.
func (p *Profile) SerialOIDs() []string { return slices.Clone(p.serial) }

// FirmwareOIDs are the vendor objects that carry the printer's firmware
// version, in the order they are tried. A full read does not ask them:
// only the printer-firmware task does, before and after an update.
func (p *Profile) FirmwareOIDs() []string { return slices.Clone(p.firmware) }
