package protocol

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

// actions reads every Action* constant of this package's sources: the
// message catalogue as the code has it.
func actions(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Action") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					out[name.Name] = v
				}
			}
			return true
		})
	}
	return out
}

// TestDocsNameEveryMessage: docs/protocol.md has a section on every
// action of the protocol (a "### Name" heading), so no message exists
// that the documentation does not describe.
func TestDocsNameEveryMessage(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	acts := actions(t)
	if len(acts) < 20 {
		t.Fatalf("only %d actions found: %v", len(acts), acts)
	}
	var headings []string
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "### ") {
			headings = append(headings, line)
		}
	}
	for name, action := range acts {
		word := regexp.MustCompile(`\b` + regexp.QuoteMeta(action) + `\b`)
		found := false
		for _, h := range headings {
			if word.MatchString(h) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s (%q) has no \"### %s\" section in docs/protocol.md", name, action, action)
		}
	}
}
