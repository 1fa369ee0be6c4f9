package profile

import (
	"context"
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"strings"
)

// Getter reads OIDs; missing OIDs (noSuchObject/noSuchInstance/endOfMibView)
// are absent from the map. Values: uint64 for Counter32/Counter64/Gauge32/
// TimeTicks, int64 for Integer32, string for OctetString/OID/IpAddress.
// OIDs are written without a leading dot.
type Getter interface {
	Get(ctx context.Context, oids []string) (map[string]any, error)
	Walk(ctx context.Context, root string) (map[string]any, error)
}

// Result is what a profile read from a printer. Model and Serial are the
// vendor's own objects (empty when they did not answer); the caller
// prefers the standard Printer-MIB ones when those are set. Counters holds
// only counters whose OIDs answered, keyed total, mono, color, print,
// copy, scan or fax; it is never nil.
type Result struct {
	Model, Serial string
	Counters      map[string]uint64
}

// Read reads the profile's objects from a printer in one GET of every
// scalar OID and one walk per table column. A value of an unexpected type
// is ignored, as is a counter that would overflow when added up. On an
// error from g, Read returns the error and an empty Result.
func (p *Profile) Read(ctx context.Context, g Getter) (Result, error) {
	res := Result{Counters: map[string]uint64{}}

	var got map[string]any
	if oids := p.scalarOIDs(); len(oids) > 0 {
		var err error
		got, err = g.Get(ctx, oids)
		if err != nil {
			return res, fmt.Errorf("%s profile: get %d OIDs: %w", p.Vendor, len(oids), err)
		}
	}
	walked := map[string]map[string]any{}
	for _, root := range p.walkRoots() {
		vals, err := g.Walk(ctx, root)
		if err != nil {
			return res, fmt.Errorf("%s profile: walk %s: %w", p.Vendor, root, err)
		}
		walked[root] = vals
	}

	res.Model = firstString(got, p.model)
	res.Serial = firstString(got, p.serial)

	var sums counterSums
	for _, s := range p.scalars {
		if n, ok := asCount(got[s.oid]); ok {
			sums.add(s.counter, n)
		}
	}
	for _, t := range p.tables {
		t.collect(walked, &sums)
	}
	sums.derive(p.derive)
	for name, s := range sums {
		if !s.overflow {
			res.Counters[name] = s.n
		}
	}
	return res, nil
}

// scalarOIDs lists the OIDs of the one GET, each once, in profile order.
func (p *Profile) scalarOIDs() []string {
	var oids []string
	seen := map[string]bool{}
	add := func(o string) {
		if !seen[o] {
			seen[o] = true
			oids = append(oids, o)
		}
	}
	for _, o := range p.model {
		add(o)
	}
	for _, o := range p.serial {
		add(o)
	}
	for _, s := range p.scalars {
		add(s.oid)
	}
	return oids
}

// walkRoots lists the table columns to walk, each once, in OID order;
// tables of one vendor often share a values column.
func (p *Profile) walkRoots() []string {
	seen := map[string]bool{}
	var roots []string
	for _, t := range p.tables {
		for _, c := range []string{t.values, t.keys} {
			if c != "" && !seen[c] {
				seen[c] = true
				roots = append(roots, c)
			}
		}
	}
	sort.Strings(roots)
	return roots
}

func (t table) collect(walked map[string]map[string]any, sums *counterSums) {
	prefix := t.values + "."
	keys := walked[t.keys]
	for oid, v := range walked[t.values] {
		index, ok := strings.CutPrefix(oid, prefix)
		if !ok || index == "" {
			continue // a Getter that strayed outside the column
		}
		n, ok := asCount(v)
		if !ok {
			continue
		}
		var r *row
		if t.keys != "" {
			k, ok := asKey(keys[t.keys+"."+index])
			if !ok {
				continue
			}
			r = t.rowByKey(k)
		} else {
			r = t.rowByIndex(strings.Split(index, "."))
		}
		if r != nil {
			sums.add(r.counter, n)
		}
	}
}

func (t table) rowByKey(k string) *row {
	for i := range t.rows {
		if strings.EqualFold(t.rows[i].key, k) {
			return &t.rows[i]
		}
	}
	return nil
}

func (t table) rowByIndex(arcs []string) *row {
	for i := range t.rows {
		pat := t.rows[i].index
		if len(pat) != len(arcs) {
			continue
		}
		match := true
		for j, a := range pat {
			if a != "*" && a != arcs[j] {
				match = false
				break
			}
		}
		if match {
			return &t.rows[i]
		}
	}
	return nil
}

type counterSum struct {
	n        uint64
	overflow bool // the sum is not exact, so it is not reported
}

type counterSums map[string]counterSum

func (s *counterSums) add(name string, n uint64) {
	if *s == nil {
		*s = counterSums{}
	}
	c := (*s)[name]
	sum, carry := bits.Add64(c.n, n, 0)
	c.n, c.overflow = sum, c.overflow || carry != 0
	(*s)[name] = c
}

// derive fills a counter from others only when it is missing and every
// part answered, so a derived value is as exact as its parts.
func (s *counterSums) derive(ds []derivation) {
	for _, d := range ds {
		if _, ok := (*s)[d.counter]; ok {
			continue
		}
		var parts []counterSum
		for _, name := range d.sum {
			c, ok := (*s)[name]
			if !ok || c.overflow {
				parts = nil
				break
			}
			parts = append(parts, c)
		}
		if parts == nil {
			continue
		}
		for _, c := range parts {
			s.add(d.counter, c.n)
		}
	}
}

// asCount accepts the Getter's counter and integer types; a negative
// integer is an error value (RFC 3805 uses -1, -2, -3), not a count.
func asCount(v any) (uint64, bool) {
	switch n := v.(type) {
	case uint64:
		return n, true
	case uint:
		return uint64(n), true
	case uint32:
		return uint64(n), true
	case int64:
		if n >= 0 {
			return uint64(n), true
		}
	case int:
		if n >= 0 {
			return uint64(n), true
		}
	case int32:
		if n >= 0 {
			return uint64(n), true
		}
	}
	return 0, false
}

// asKey renders a key column value: a name, or a type code.
func asKey(v any) (string, bool) {
	switch k := v.(type) {
	case string:
		return strings.TrimSpace(k), true
	case []byte:
		return strings.TrimSpace(string(k)), true
	case uint64:
		return strconv.FormatUint(k, 10), true
	case int64:
		return strconv.FormatInt(k, 10), true
	case int:
		return strconv.Itoa(k), true
	}
	return "", false
}

func firstString(got map[string]any, oids []string) string {
	for _, o := range oids {
		var s string
		switch v := got[o].(type) {
		case string:
			s = v
		case []byte:
			s = string(v)
		default:
			continue
		}
		// Printers pad with spaces and NULs, and a string that is not
		// UTF-8 would garble the JSON status.
		s = strings.Trim(strings.ToValidUTF8(s, ""), " \t\r\n\x00")
		if s != "" {
			return s
		}
	}
	return ""
}
