package protocol

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol/schema"
	"github.com/tessera-print/tessera/protocol/schema/schematest"
)

// schemaDocs reads every file of the catalogue as plain JSON.
func schemaDocs(t *testing.T) map[string]map[string]any {
	t.Helper()
	entries, err := schema.FS.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]map[string]any{}
	for _, e := range entries {
		data, err := schema.FS.ReadFile(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		docs[e.Name()] = doc
	}
	return docs
}

// resolve follows a schema's $ref ("defs.json#/$defs/X" or "#/$defs/X",
// relative to file) until a schema without one.
func resolve(docs map[string]map[string]any, file string, s map[string]any) (string, map[string]any) {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return file, s
		}
		target, pointer, _ := strings.Cut(ref, "#")
		if target != "" {
			file = target
		}
		s = docs[file]
		for _, part := range strings.Split(strings.Trim(pointer, "/"), "/") {
			if part != "" {
				s, _ = s[part].(map[string]any)
			}
		}
	}
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// checkTypeFields reports every JSON field of the Go type typ that the schema
// s (of file) does not list among its properties, recursing into structs,
// pointers and slices.
func checkTypeFields(t *testing.T, docs map[string]map[string]any, file string, s map[string]any, typ reflect.Type, path string) {
	t.Helper()
	file, s = resolve(docs, file, s)
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch {
	case typ == timeType || typ == rawType:
		return
	case typ.Kind() == reflect.Slice && typ.Elem().Kind() != reflect.Uint8:
		if items, ok := s["items"].(map[string]any); ok {
			checkTypeFields(t, docs, file, items, typ.Elem(), strings.TrimSuffix(path, ".")+"[].")
		}
		return
	case typ.Kind() != reflect.Struct:
		return
	}
	props, _ := s["properties"].(map[string]any)
	for _, f := range reflect.VisibleFields(typ) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		sub, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("%s: %s%s (Go %s.%s) is not a property in the catalogue", file, path, name, typ.Name(), f.Name)
			continue
		}
		checkTypeFields(t, docs, file, sub, f.Type, path+name+".")
	}
}

// TestCatalogueNamesEveryField: every JSON field of every message's Go
// type, nested ones included, is a property of its schema, so a field
// added to a struct without its schema fails here even before any
// example or traffic carries it.
func TestCatalogueNamesEveryField(t *testing.T) {
	docs := schemaDocs(t)
	for action, d := range decoders() {
		for i, name := range []string{schematest.RequestSchema(action), schematest.ResponseSchema(action)} {
			doc, ok := docs[name]
			if !ok {
				t.Errorf("no %s", name)
				continue
			}
			checkTypeFields(t, docs, name, doc, reflect.TypeOf(d[i]()).Elem(), "")
		}
	}
	for name, typ := range map[string]reflect.Type{
		"task.notify.payload.json":                  reflect.TypeFor[NotifyPayload](),
		"task.sync-users.payload.json":              reflect.TypeFor[SyncUsersPayload](),
		"task.test-connection.result.json":          reflect.TypeFor[TestConnectionResult](),
		"task.update-agent.payload.json":            reflect.TypeFor[UpdateAgentPayload](),
		"task.update-printer-firmware.payload.json": reflect.TypeFor[UpdateFirmwarePayload](),
	} {
		checkTypeFields(t, docs, name, docs[name], typ, "")
	}
}

// constants reads the string constants of this package's sources whose
// names start with prefix, by name.
func constants(t *testing.T, prefix string) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, prefix) || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					out[name.Name], _ = strconv.Unquote(lit.Value)
				}
			}
			return true
		})
	}
	return out
}

// enumAt reads the enum of the schema at a path of property names within
// a file (for frame.json, its $defs).
func enumAt(t *testing.T, doc map[string]any, path ...string) []any {
	t.Helper()
	s := doc
	for _, p := range path {
		next, ok := s[p].(map[string]any)
		if !ok {
			t.Fatalf("no %s in %v", p, path)
		}
		s = next
	}
	enum, _ := s["enum"].([]any)
	return enum
}

// TestCatalogueCodes: the error codes (Code*) and the GenericError
// details codes (Detail*) of the package are exactly the enums of
// frame.json; every refusal reason constant (Authorize, Enroll, a
// lease held, Boot) is one its message allows.
func TestCatalogueCodes(t *testing.T) {
	docs := schemaDocs(t)
	frame := docs["frame.json"]
	for _, tc := range []struct {
		prefix string
		path   []string
	}{
		{"Code", []string{"$defs", "errorCode"}},
		{"Detail", []string{"$defs", "details", "properties", "code"}},
	} {
		want := map[string]bool{}
		for _, v := range constants(t, tc.prefix) {
			want[v] = true
		}
		have := map[string]bool{}
		for _, v := range enumAt(t, frame, tc.path...) {
			have[v.(string)] = true
		}
		for v := range want {
			if !have[v] {
				t.Errorf("frame.json %v: no %q (a %s* constant)", tc.path, v, tc.prefix)
			}
		}
		for v := range have {
			if !want[v] {
				t.Errorf("frame.json %v: %q is no %s* constant", tc.path, v, tc.prefix)
			}
		}
	}
	for _, tc := range []struct {
		prefix, file string
		path         []string
	}{
		{"Reason", "defs.json", []string{"$defs", "AuthorizeResult", "properties", "reason"}},
		{"EnrollReason", "Enroll.response.json", []string{"properties", "reason"}},
		{"LeaseHeld", "frame.json", []string{"$defs", "details", "properties", "why"}},
	} {
		enum := enumAt(t, docs[tc.file], tc.path...)
		for name, v := range constants(t, tc.prefix) {
			if !slices.Contains(enum, any(v)) {
				t.Errorf("%s %v: no %q (%s)", tc.file, tc.path, v, name)
			}
		}
	}
	cat := catalogue(t)
	for name, reason := range constants(t, "BootReason") {
		doc := fmt.Sprintf(`{"status":"rejected","reason":%q,"heartbeat_interval_s":30,"server_time":"2026-12-07T09:30:00Z","last_seq":0}`, reason)
		if err := cat.Validate("Boot.response.json", []byte(doc)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
