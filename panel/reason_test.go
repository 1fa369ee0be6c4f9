package panel

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// printerFamily is the prefix of a reason code that names a printer state
// keyword (printer-media-jam): the page says the keyword's words.
const printerFamily = "printer-"

// codeSources are the sources whose reasons reach a job on the page: the
// release engine and its CUPS source, the session, and the agent's
// pre-release check of the printer.
var codeSources = []string{
	filepath.Join("..", "release", "*.go"), filepath.Join("..", "release", "cupssource", "*.go"),
	filepath.Join("..", "session", "*.go"), filepath.Join("..", "agent", "printer.go"),
}

// reasonCodes reads, from codeSources, every reason code a job or a
// release result can carry: the release package's Code constants, the
// Code of a NotReady or Why literal, the ReasonCode of a Result literal,
// the code argument of session's held, and agent/printer.go's code
// variable. A code that is neither a literal nor one of those constants
// fails the test, unless it copies another's code (x.Code, x.ReasonCode)
// or is printerFamily + a printer keyword (then printer is true).
func reasonCodes(t *testing.T) (codes map[string]string, printer bool) {
	t.Helper()
	codes = map[string]string{}
	consts := map[string]string{}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, pattern := range codeSources {
		names, err := filepath.Glob(pattern)
		if err != nil || len(names) == 0 {
			t.Fatalf("%s: %v files (%v)", pattern, len(names), err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.CONST || f.Name.Name != "release" {
					continue
				}
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if s, ok := stringLit(vs.Values, i); ok && strings.HasPrefix(n.Name, "Code") {
							consts[n.Name] = s
							codes[s] = fset.Position(n.Pos()).String()
						}
					}
				}
			}
		}
	}
	add := func(e ast.Expr) {
		where := fset.Position(e.Pos()).String()
		switch e := e.(type) {
		case *ast.BasicLit:
			s, err := strconv.Unquote(e.Value)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			codes[s] = where
			return
		case *ast.Ident:
			if _, ok := consts[e.Name]; ok || e.Name == "code" {
				return
			}
		case *ast.SelectorExpr:
			if _, ok := consts[e.Sel.Name]; ok || e.Sel.Name == "Code" || e.Sel.Name == "ReasonCode" {
				return
			}
		case *ast.BinaryExpr:
			if lit, ok := e.X.(*ast.BasicLit); ok && lit.Value == strconv.Quote(printerFamily) {
				printer = true
				return
			}
		}
		t.Errorf("%s: a reason code that is not a literal: list it here another way", where)
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				if isIdent(n.Key, "Code") || isIdent(n.Key, "ReasonCode") {
					if f.Name.Name != "session" || isIdent(n.Key, "ReasonCode") {
						add(n.Value)
					}
				}
			case *ast.CallExpr:
				if isIdent(n.Fun, "held") && len(n.Args) == 3 {
					add(n.Args[1])
				}
			case *ast.AssignStmt:
				if f.Name.Name == "agent" && len(n.Lhs) == 1 && isIdent(n.Lhs[0], "code") {
					add(n.Rhs[0])
				}
			}
			return true
		})
	}
	return codes, printer
}

func stringLit(values []ast.Expr, i int) (string, bool) {
	if i >= len(values) {
		return "", false
	}
	lit, ok := values[i].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// printerKeywords reads every printer-state keyword the agent can put in
// a session's printer.reasons: the SNMP reading's Reason constants
// (printer/snmp/status.go; the agent turns an IPP printer's
// printer-state-reasons into these too, agent/ippreasons.go) and the
// literals agent/printer.go appends to p.Reasons (wrong-printer).
func printerKeywords(t *testing.T) map[string]string {
	t.Helper()
	kws := map[string]string{}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "printer", "snmp", "status.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if s, ok := stringLit(vs.Values, i); ok && strings.HasPrefix(n.Name, "Reason") {
						kws[s] = fset.Position(n.Pos()).String()
					}
				}
			}
		}
	}
	f, err = parser.ParseFile(fset, filepath.Join("..", "agent", "printer.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !isIdent(call.Fun, "append") || len(call.Args) < 2 {
			return true
		}
		if sel, ok := call.Args[0].(*ast.SelectorExpr); ok && sel.Sel.Name == "Reasons" {
			for _, a := range call.Args[1:] {
				if s, ok := stringLit([]ast.Expr{a}, 0); ok {
					kws[s] = fset.Position(a.Pos()).String()
				}
			}
		}
		return true
	})
	return kws
}

// tableEntry finds code's entry in one of app.js's tables: 'code': N('key').
func tableEntry(script []byte, code, keyPattern string) (string, bool) {
	re := regexp.MustCompile(`(?:'` + regexp.QuoteMeta(code) + `'|\b` + regexp.QuoteMeta(code) + `): N\('(` + keyPattern + `)'\)`)
	m := re.FindSubmatch(script)
	if m == nil {
		return "", false
	}
	return string(m[1]), true
}

// TestReasonCodesHaveWords: every reason code the agent can give a job or
// a release result is in app.js's REASONS (as reason.CODE, or a key the
// page already has with the same words), and every printer-state keyword
// it can report is in PRINTER_REASONS (printer.reason.KEYWORD, a
// synonym's, or a printer state's words), each key with words in every
// catalogue, so a French user reads "Bourrage papier", never the agent's
// English; a new code or keyword without words fails here. The words fit
// the job's reason line: two lines at 800x480 (maxReasonLen).
func TestReasonCodesHaveWords(t *testing.T) {
	codes, printer := reasonCodes(t)
	kws := printerKeywords(t)
	t.Logf("reason codes: %s; printer family: %v", strings.Join(sortedKeys(codes), ", "), printer)
	for _, want := range []string{"stopped", "uncertain", "damaged", "quota", "not-in-list", "claimed-elsewhere", "no-serial"} {
		if _, ok := codes[want]; !ok {
			t.Fatalf("found codes %v, not %q: the parse no longer sees the reasons' codes", sortedKeys(codes), want)
		}
	}
	for _, want := range []string{"media-jam", "no-toner", "door-open", "wrong-printer", "unreachable"} {
		if _, ok := kws[want]; !ok {
			t.Fatalf("found keywords %v, not %q: the parse no longer sees the printer's keywords", sortedKeys(kws), want)
		}
	}
	if !printer {
		t.Fatalf("no printer-KEYWORD code found: agent/printer.go's check no longer says the printer's state")
	}
	script, err := os.ReadFile(filepath.Join("web", "app.js"))
	if err != nil {
		t.Fatal(err)
	}
	cats := map[string]map[string]bool{}
	for lang := range pluralForms {
		cats[lang] = map[string]bool{}
		for k := range catalogue(t, lang) {
			cats[lang][k] = true
		}
	}
	hasWords := func(what, key string) {
		for _, lang := range sortedKeys(cats) {
			if !cats[lang][key] {
				t.Errorf("%s has no words in %s.json (%q)", what, lang, key)
			}
		}
	}
	for _, code := range sortedKeys(codes) {
		if kw, ok := strings.CutPrefix(code, printerFamily); ok {
			// Said by the keyword's words (below).
			if _, known := kws[kw]; !known {
				t.Errorf("code %q (%s) starts with %q, which the page reads as a printer keyword, and %q is none", code, codes[code], printerFamily, kw)
			}
			continue
		}
		key, ok := tableEntry(script, code, `(?:reason|job)\.[a-z0-9_-]+`)
		if !ok {
			t.Errorf("code %q (%s) is not in app.js's REASONS as %s: N('reason.%s')", code, codes[code], code, code)
			continue
		}
		hasWords("code "+strconv.Quote(code)+" ("+codes[code]+")", key)
		checkReasonLen(t, key, "")
	}
	for _, kw := range sortedKeys(kws) {
		key, ok := tableEntry(script, kw, `printer\.[a-z0-9_.-]+`)
		if !ok {
			t.Errorf("printer keyword %q (%s) is not in app.js's PRINTER_REASONS as %s: N('printer.reason.%s')", kw, kws[kw], kw, kw)
			continue
		}
		hasWords("printer keyword "+strconv.Quote(kw)+" ("+kws[kw]+")", key)
		checkReasonLen(t, "reason.printer", key)
	}
}

// maxReasonLen is the most characters of a job's reason: two lines of its
// 14 px type beside the job's state chip at 800x480.
const maxReasonLen = 100

// checkReasonLen: key's words (every plural form), with {what} the words
// of whatKey, fit maxReasonLen in every language.
func checkReasonLen(t *testing.T, key, whatKey string) {
	t.Helper()
	for _, lang := range sortedKeys(pluralForms) {
		cat := catalogue(t, lang)
		var what string
		if whatKey != "" {
			_ = json.Unmarshal(cat[whatKey], &what)
		}
		var forms map[string]string
		var one string
		if json.Unmarshal(cat[key], &one) == nil {
			forms = map[string]string{"": one}
		} else if err := json.Unmarshal(cat[key], &forms); err != nil {
			continue // TestCatalogueKeys says why
		}
		for f, s := range forms {
			s = strings.ReplaceAll(strings.ReplaceAll(s, "{what}", what), "{n}", "999")
			if n := utf8.RuneCountInString(s); n > maxReasonLen {
				t.Errorf("%s %q %s is %d characters, more than the %d of two lines: %q", lang, key, f, n, maxReasonLen, s)
			}
		}
	}
}
