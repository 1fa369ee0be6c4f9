package panel

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// sessionCodes reads, from the session package's sources, every code the
// agent can put in a session notice or a login refusal: the first argument
// of notice and setNotice, and the Code of a LoginError or Notice literal.
// A notice whose code is neither a literal nor a LoginError's Code fails the
// test: the list would no longer be complete.
func sessionCodes(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "session", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	fset := token.NewFileSet()
	add := func(e ast.Expr, where string) bool {
		lit, ok := e.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return false
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		codes[s] = fset.Position(lit.Pos()).String()
		return true
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || (sel.Sel.Name != "notice" && sel.Sel.Name != "setNotice") || len(n.Args) == 0 {
					return true
				}
				where := fset.Position(n.Pos()).String()
				if !add(n.Args[0], where) && !isCodeField(n.Args[0]) {
					t.Errorf("%s: a notice whose code is not a literal: list it here another way", where)
				}
			case *ast.CompositeLit:
				id, ok := n.Type.(*ast.Ident)
				if !ok || (id.Name != "LoginError" && id.Name != "Notice") {
					return true
				}
				for _, el := range n.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok && isIdent(kv.Key, "Code") {
						add(kv.Value, fset.Position(kv.Pos()).String())
					}
				}
			}
			return true
		})
	}
	return codes
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// isCodeField: x.Code, a LoginError's (whose literals are read) or the
// parameter code of setNotice itself.
func isCodeField(e ast.Expr) bool {
	if sel, ok := e.(*ast.SelectorExpr); ok {
		return sel.Sel.Name == "Code"
	}
	return isIdent(e, "code")
}

// TestNoticeCodesHaveWords: every code the session package can emit in a
// notice or a refusal has words in every catalogue (notice.CODE) and is in
// app.js's CODES, so a French device never shows the agent's English; a new
// code without words fails here.
func TestNoticeCodesHaveWords(t *testing.T) {
	codes := sessionCodes(t)
	t.Logf("the session's codes: %s", strings.Join(sortedKeys(codes), ", "))
	for _, want := range []string{"card-unknown", "locked", "wait", "wrong-pin", "card-not-accepted", "jobs-unavailable"} {
		if _, ok := codes[want]; !ok {
			t.Fatalf("found codes %v, not %q: the parse no longer sees the session's codes", sortedKeys(codes), want)
		}
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
	for _, code := range sortedKeys(codes) {
		key := "notice." + code
		for _, lang := range sortedKeys(cats) {
			if !cats[lang][key] {
				t.Errorf("code %q (%s) has no words in %s.json (%q)", code, codes[code], lang, key)
			}
		}
		entry := regexp.MustCompile(`(?:'` + regexp.QuoteMeta(code) + `'|\b` + regexp.QuoteMeta(code) + `): N\('` + regexp.QuoteMeta(key) + `'\)`)
		if !entry.Match(script) {
			t.Errorf("code %q (%s) is not in app.js's CODES as %s: N('%s')", code, codes[code], code, key)
		}
	}
}
