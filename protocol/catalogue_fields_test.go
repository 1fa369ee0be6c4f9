package protocol

import (
	"encoding/json"
	"reflect"
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
