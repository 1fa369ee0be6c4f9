// Command gen writes the recorded key-event streams the evdev decoder is
// tested on. It derives which key (and whether Shift) types each character
// from xkeyboard-config's layout files (Debian xkb-data), the kernel's key
// code table (linux/input-event-codes.h) and X11's keysym table
// (keysymdef.h, Debian x11proto-dev), never from the decoder's keymaps, so
// a mistake in those keymaps makes the tests fail.
//
//	go run ./cardreader/evdev/internal/gen -out cardreader/evdev/testdata
//
// For each layout (us, fr, de) it writes NAME-16.events and NAME-24.events
// (struct input_event of 32-bit and 64-bit processes, little-endian) and
// NAME.want, the reads the stream holds, one per line.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

func main() {
	xkb := flag.String("xkb", "/usr/share/X11/xkb", "xkeyboard-config directory")
	codesH := flag.String("codes", "/usr/include/linux/input-event-codes.h", "kernel key code table")
	keysymH := flag.String("keysyms", "/usr/include/X11/keysymdef.h", "X11 keysym table")
	out := flag.String("out", "cardreader/evdev/testdata", "output directory")
	flag.Parse()
	log.SetFlags(0)

	codes := must(parseCodes(*codesH))
	xkbCodes := must(parseXKBKeycodes(filepath.Join(*xkb, "keycodes", "evdev")))
	keysyms := must(parseKeysyms(*keysymH))
	g := &gen{codes: codes, xkbCodes: xkbCodes, keysyms: keysyms, symDir: filepath.Join(*xkb, "symbols")}

	keypad := g.layout("keypad", "x11")
	var sources []string
	for _, f := range []string{*codesH, filepath.Join(*xkb, "keycodes", "evdev"), *keysymH,
		filepath.Join(*xkb, "symbols", "keypad"), filepath.Join(*xkb, "symbols", "latin")} {
		sources = append(sources, fileSum(f))
	}
	for _, name := range []string{"us", "fr", "de"} {
		main := g.layout(name, "basic")
		sources = append(sources, fileSum(filepath.Join(g.symDir, name)))
		s := g.script(main, keypad)
		for _, size := range []int{16, 24} {
			path := filepath.Join(*out, fmt.Sprintf("%s-%d.events", name, size))
			if err := os.WriteFile(path, s.encode(size), 0o644); err != nil {
				log.Fatal(err)
			}
		}
		want := strings.Join(s.reads, "\n") + "\n"
		if err := os.WriteFile(filepath.Join(*out, name+".want"), []byte(want), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	slices.Sort(sources)
	sources = slices.Compact(sources)
	note := "# Inputs of cardreader/evdev/internal/gen (sha256, file)\n" + strings.Join(sources, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(*out, "SOURCES"), []byte(note), 0o644); err != nil {
		log.Fatal(err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}

func fileSum(path string) string {
	b := must(os.ReadFile(path))
	return fmt.Sprintf("%x  %s", sha256.Sum256(b), path)
}

// parseCodes reads "#define NAME VALUE" lines of input-event-codes.h.
func parseCodes(path string) (map[string]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`(?m)^#define\s+((?:KEY|EV|SYN)_\w+)\s+(0x[0-9a-fA-F]+|\d+)\b`)
	m := map[string]int{}
	for _, sm := range re.FindAllStringSubmatch(string(b), -1) {
		v, err := strconv.ParseInt(sm[2], 0, 32)
		if err != nil {
			return nil, err
		}
		m[sm[1]] = int(v)
	}
	for _, need := range []string{"EV_KEY", "EV_SYN", "SYN_REPORT", "SYN_DROPPED", "KEY_ENTER", "KEY_KPENTER", "KEY_LEFTSHIFT", "KEY_RIGHTSHIFT"} {
		if _, ok := m[need]; !ok {
			return nil, fmt.Errorf("%s: no %s", path, need)
		}
	}
	return m, nil
}

// parseXKBKeycodes reads "<NAME> = N;" and "alias <A> = <B>;" of the evdev
// keycodes file. An X key code is the kernel's plus 8.
func parseXKBKeycodes(path string) (map[string]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]int{}
	for _, sm := range regexp.MustCompile(`<(\w+)>\s*=\s*(\d+)\s*;`).FindAllStringSubmatch(string(b), -1) {
		n, _ := strconv.Atoi(sm[2])
		if _, dup := m[sm[1]]; !dup {
			m[sm[1]] = n
		}
	}
	for _, sm := range regexp.MustCompile(`alias\s+<(\w+)>\s*=\s*<(\w+)>\s*;`).FindAllStringSubmatch(string(b), -1) {
		if n, ok := m[sm[2]]; ok {
			m[sm[1]] = n
		}
	}
	return m, nil
}

// parseKeysyms reads "#define XK_name 0xVALUE /* U+XXXX ..." lines.
func parseKeysyms(path string) (map[string]rune, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`(?m)^#define XK_(\w+)\s+0x([0-9a-fA-F]+)(?:\s*/\*\s*U\+([0-9A-Fa-f]+))?`)
	m := map[string]rune{}
	for _, sm := range re.FindAllStringSubmatch(string(b), -1) {
		val, _ := strconv.ParseUint(sm[2], 16, 32)
		switch {
		case sm[3] != "":
			u, _ := strconv.ParseUint(sm[3], 16, 32)
			m[sm[1]] = rune(u)
		case val >= 0x20 && val < 0x100:
			m[sm[1]] = rune(val) // Latin-1 keysyms are their code points
		}
	}
	return m, nil
}

type gen struct {
	codes    map[string]int
	xkbCodes map[string]int
	keysyms  map[string]rune
	symDir   string
}

// level1and2 is a key's first two shift levels of group 1.
type levels [2]string

// layout loads symbols file(section) with its includes, key name → keysyms.
func (g *gen) layout(file, section string) map[string]levels {
	keys := map[string]levels{}
	g.load(file, section, keys, 0)
	return keys
}

var (
	reComment = regexp.MustCompile(`//[^\n]*`)
	reSection = regexp.MustCompile(`(?m)^([a-z_ \t]*)xkb_symbols\s+"([^"]+)"\s*\{`)
	reInclude = regexp.MustCompile(`(?m)^\s*include\s+"([^"]+)"`)
	reKey     = regexp.MustCompile(`(?s)key\s+<(\w+)>\s*\{(.*?)\}\s*;`)
	reNoise   = regexp.MustCompile(`(?s)(type|actions|virtualMods|overlay\d)(\[\w+\])?\s*=\s*("[^"]*"|<\w+>|\[[^\]]*\]|\w+)\s*,?`)
	reSyms    = regexp.MustCompile(`\[([^\]]*)\]`)
)

func (g *gen) load(file, section string, keys map[string]levels, depth int) {
	if depth > 10 {
		log.Fatalf("include loop at %s(%s)", file, section)
	}
	b, err := os.ReadFile(filepath.Join(g.symDir, file))
	if err != nil {
		log.Printf("skipping include %s: %v", file, err)
		return
	}
	src := reComment.ReplaceAllString(string(b), "")
	locs := reSection.FindAllStringSubmatchIndex(src, -1)
	body := ""
	for i, l := range locs {
		// The flags ("default partial ...") may stand on the line before.
		pre := src[:l[0]]
		if j := strings.LastIndex(pre, "};"); j >= 0 {
			pre = pre[j+2:]
		}
		flags, name := pre+src[l[2]:l[3]], src[l[4]:l[5]]
		if name == section || section == "" && strings.Contains(flags, "default") {
			end := len(src)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			body = src[l[1]:end]
			break
		}
	}
	if body == "" {
		log.Printf("skipping include %s(%s): no such section", file, section)
		return
	}
	// Includes first, in order, then this section's keys override them.
	for _, sm := range reInclude.FindAllStringSubmatch(body, -1) {
		for part := range strings.SplitSeq(sm[1], "+") {
			f, s, _ := strings.Cut(part, "(")
			g.load(f, strings.TrimSuffix(s, ")"), keys, depth+1)
		}
	}
	for _, sm := range reKey.FindAllStringSubmatch(body, -1) {
		inner := strings.ReplaceAll(sm[2], "symbols[Group1]", "")
		inner = reNoise.ReplaceAllString(inner, "")
		syms := reSyms.FindStringSubmatch(inner)
		if syms == nil {
			continue
		}
		lv := keys[sm[1]]
		for i, s := range strings.Split(syms[1], ",") {
			if i >= 2 {
				break
			}
			lv[i] = strings.TrimSpace(s)
		}
		keys[sm[1]] = lv
	}
}

// char returns the character a keysym types, if it types one.
func (g *gen) char(sym string) (rune, bool) {
	if utf8.RuneCountInString(sym) == 1 {
		r, _ := utf8.DecodeRuneInString(sym)
		return r, true
	}
	if d, ok := strings.CutPrefix(sym, "KP_"); ok && len(d) == 1 && d[0] >= '0' && d[0] <= '9' {
		return rune(d[0]), true
	}
	if h, ok := strings.CutPrefix(sym, "U"); ok {
		if u, err := strconv.ParseUint(h, 16, 32); err == nil {
			return rune(u), true
		}
	}
	if h, ok := strings.CutPrefix(sym, "0x100"); ok {
		if u, err := strconv.ParseUint(h, 16, 32); err == nil {
			return rune(u), true
		}
	}
	r, ok := g.keysyms[sym]
	return r, ok
}

// stroke is how to type one character: the kernel key code and Shift.
type stroke struct {
	code  int
	shift bool
}

// strokes maps each character of a layout's first two levels to the key
// with the lowest code that types it.
func (g *gen) strokes(keys map[string]levels) map[rune]stroke {
	m := map[rune]stroke{}
	for name, lv := range keys {
		xc, ok := g.xkbCodes[name]
		if !ok {
			continue
		}
		for level, sym := range lv {
			r, ok := g.char(sym)
			if !ok || sym == "" {
				continue
			}
			s := stroke{code: xc - 8, shift: level == 1}
			if old, dup := m[r]; !dup || s.code < old.code || s.code == old.code && !s.shift {
				m[r] = s
			}
		}
	}
	return m
}

// event is one struct input_event, the time in microseconds.
type event struct {
	usec      int64
	typ, code int
	value     int32
}

type script struct {
	g      *gen
	events []event
	now    int64 // µs
	reads  []string
}

func (s *script) emit(typ, code int, value int32) {
	s.events = append(s.events, event{usec: s.now, typ: typ, code: code, value: value})
}

func (s *script) key(code int, value int32) {
	s.emit(s.g.codes["EV_KEY"], code, value)
	s.emit(s.g.codes["EV_SYN"], s.g.codes["SYN_REPORT"], 0)
	s.now += 2000 // readers type a key every few milliseconds
}

func (s *script) tap(code int) {
	s.key(code, 1)
	s.key(code, 0)
}

// typeText types text with m, holding Shift (left, or right when right is
// set) only for the characters that need it, as wedge readers do.
func (s *script) typeText(m map[rune]stroke, text string, right bool) {
	shift := s.g.codes["KEY_LEFTSHIFT"]
	if right {
		shift = s.g.codes["KEY_RIGHTSHIFT"]
	}
	for _, r := range text {
		st, ok := m[r]
		if !ok {
			log.Fatalf("no key types %q", r)
		}
		if st.shift {
			s.key(shift, 1)
			s.tap(st.code)
			s.key(shift, 0)
		} else {
			s.tap(st.code)
		}
	}
}

func (s *script) script(m map[rune]stroke, text string, end string) {
	s.typeText(m, text, false)
	switch end {
	case "enter":
		s.tap(s.g.codes["KEY_ENTER"])
	case "kpenter":
		s.tap(s.g.codes["KEY_KPENTER"])
	case "gap":
		s.now += 500_000 // half a second of silence ends the read
	}
	s.reads = append(s.reads, text)
}

// script is the same sequence of reads for every layout.
func (g *gen) script(main, keypad map[string]levels) *script {
	m := g.strokes(main)
	kp := g.strokes(keypad)
	s := &script{g: g, now: 1_700_000_000_000_000}
	s.script(m, "946EBD28", "enter")
	s.script(m, "0123456789", "kpenter")
	s.script(kp, "0123456789", "enter")                  // keypad digits
	s.script(m, "3934364542443238", "gap")               // a quiet gap ends it
	s.script(m, ";0004271234?", "enter")                 // a prefix and a suffix
	s.typeText(m, "Ab", false)                           // Shift on the left...
	s.typeText(m, "Cd", true)                            // ...and on the right
	s.typeText(m, "Ef", false)                           //
	s.tap(g.codes["KEY_ENTER"])                          //
	s.reads = append(s.reads, "AbCdEf")                  //
	s.typeText(m, "1111", false)                         // the kernel drops events:
	s.emit(g.codes["EV_SYN"], g.codes["SYN_DROPPED"], 0) // this read is lost
	s.script(m, "2222", "enter")                         //
	st := m['5']                                         // autorepeat is not typing
	s.shiftIf(st.shift, func() {
		s.key(st.code, 1)
		s.key(st.code, 2)
		s.key(st.code, 2)
		s.key(st.code, 0)
		s.tap(st.code)
	})
	s.tap(g.codes["KEY_ENTER"])
	s.reads = append(s.reads, "55")
	s.script(m, g.mainBlock(main), "enter") // every character of the layout
	s.script(m, "12345678", "gap")          // the stream ends: the gap ends the read
	return s
}

// mainBlock returns every character the alphanumeric block of a layout
// types at its first two levels, sorted: the digit row (TLDE, AE01-AE12),
// the letter rows (AD01-AD12, AC01-AC11, BKSL, LSGT, AB01-AB10) and space.
func (g *gen) mainBlock(keys map[string]levels) string {
	var set []rune
	for name, lv := range keys {
		main := name == "TLDE" || name == "BKSL" || name == "LSGT" || name == "SPCE"
		if len(name) == 4 && (name[:2] == "AE" || name[:2] == "AD" || name[:2] == "AC" || name[:2] == "AB") {
			n, err := strconv.Atoi(name[2:])
			main = err == nil && n >= 1 && n <= 12
		}
		if !main {
			continue
		}
		for _, sym := range lv {
			if r, ok := g.char(sym); ok && sym != "" {
				set = append(set, r)
			}
		}
	}
	slices.Sort(set)
	return string(slices.Compact(set))
}

func (s *script) shiftIf(shift bool, fn func()) {
	if shift {
		s.key(s.g.codes["KEY_LEFTSHIFT"], 1)
	}
	fn()
	if shift {
		s.key(s.g.codes["KEY_LEFTSHIFT"], 0)
	}
}

// encode writes the events as struct input_event: 16 bytes (u32 seconds,
// u32 microseconds) or 24 bytes (64-bit words), then u16 type, u16 code,
// s32 value, little-endian.
func (s *script) encode(size int) []byte {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	le := binary.LittleEndian
	for _, e := range s.events {
		sec, usec := e.usec/1_000_000, e.usec%1_000_000
		if size == 16 {
			w.Write(le.AppendUint32(nil, uint32(sec)))
			w.Write(le.AppendUint32(nil, uint32(usec)))
		} else {
			w.Write(le.AppendUint64(nil, uint64(sec)))
			w.Write(le.AppendUint64(nil, uint64(usec)))
		}
		w.Write(le.AppendUint16(nil, uint16(e.typ)))
		w.Write(le.AppendUint16(nil, uint16(e.code)))
		w.Write(le.AppendUint32(nil, uint32(e.value)))
	}
	w.Flush()
	return b.Bytes()
}
