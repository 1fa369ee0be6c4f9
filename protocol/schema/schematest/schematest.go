// Package schematest validates documents and traffic against the message
// catalogue (package schema), for tests and tools. It is the only code
// that imports the JSON Schema validator: neither the agent nor the hub
// links it.
//
// The catalogue's objects are open as published (the compatibility rule,
// docs/protocol.md "The catalogue": a receiver ignores a field it does not
// know). A Catalogue closes them: every object schema that lists its
// properties and says nothing of others gets additionalProperties false,
// so a test fails on a field the catalogue does not describe.
package schematest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tessera-print/tessera/protocol/schema"
)

// base is the URL the files are compiled under; relative references
// between them resolve against it. Nothing is fetched from it.
const base = "https://tessera.invalid/protocol/schema/"

// Catalogue is every schema of the catalogue, compiled and closed.
type Catalogue struct {
	schemas map[string]*jsonschema.Schema
	// fromAgent says, by action, who calls it: the request schema's title
	// names the direction ("a call agent → hub").
	fromAgent map[string]bool
}

// Directions as request schemas' titles name them.
const (
	titleAgentToHub = "(a call agent → hub)"
	titleHubToAgent = "(a call hub → agent)"
)

// Load compiles every file of schema.FS (formats and content encodings
// asserted), closed as the package comment says.
func Load() (*Catalogue, error) {
	names, err := fs.Glob(schema.FS, "*.json")
	if err != nil {
		return nil, fmt.Errorf("list the catalogue: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.AssertContent()
	for _, name := range names {
		data, err := schema.FS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := c.AddResource(base+name, Close(doc)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	cat := &Catalogue{schemas: map[string]*jsonschema.Schema{}, fromAgent: map[string]bool{}}
	for _, name := range names {
		if err := cat.noteDirection(name); err != nil {
			return nil, err
		}
		sch, err := c.Compile(base + name)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", name, err)
		}
		cat.schemas[name] = sch
	}
	return cat, nil
}

// noteDirection reads who calls the action of a request schema from its
// title, which must name it.
func (c *Catalogue) noteDirection(name string) error {
	action, ok := strings.CutSuffix(name, ".request.json")
	if !ok {
		return nil
	}
	data, err := schema.FS.ReadFile(name)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	var doc struct {
		Title string `json:"title"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	switch {
	case strings.HasSuffix(doc.Title, titleAgentToHub):
		c.fromAgent[action] = true
	case strings.HasSuffix(doc.Title, titleHubToAgent):
		c.fromAgent[action] = false
	default:
		return fmt.Errorf("%s: the title %q names no direction: end it with %q or %q", name, doc.Title, titleAgentToHub, titleHubToAgent)
	}
	return nil
}

// FromAgent reports whether the agent calls action (false: the hub), and
// whether the catalogue knows the action.
func (c *Catalogue) FromAgent(action string) (fromAgent, known bool) {
	fromAgent, known = c.fromAgent[action]
	return fromAgent, known
}

// Close sets additionalProperties false on every object schema within doc
// that has properties and neither additionalProperties nor
// unevaluatedProperties of its own; it changes doc in place and returns it.
// Conditional subschemas (if, then, oneOf branches) list no type of their
// own and stay as they are.
func Close(doc any) any {
	switch v := doc.(type) {
	case map[string]any:
		_, props := v["properties"]
		_, addl := v["additionalProperties"]
		_, uneval := v["unevaluatedProperties"]
		if v["type"] == "object" && props && !addl && !uneval {
			v["additionalProperties"] = false
		}
		for _, sub := range v {
			Close(sub)
		}
	case []any:
		for _, sub := range v {
			Close(sub)
		}
	}
	return doc
}

// Names lists the catalogue's files, sorted.
func (c *Catalogue) Names() []string {
	names := make([]string, 0, len(c.schemas))
	for n := range c.schemas {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Has reports whether the catalogue has the file name.
func (c *Catalogue) Has(name string) bool {
	_, ok := c.schemas[name]
	return ok
}

// Validate checks data, one JSON document, against the file name.
func (c *Catalogue) Validate(name string, data []byte) error {
	sch, ok := c.schemas[name]
	if !ok {
		return fmt.Errorf("no schema %s in the catalogue", name)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := sch.Validate(doc); err != nil {
		return fmt.Errorf("%s: %s", name, oneLine(err))
	}
	return nil
}

// ValidateValue marshals v as the protocol does (encoding/json) and
// checks the result against the file name.
func (c *Catalogue) ValidateValue(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("marshal: %w", err)
	}
	return c.Validate(name, data)
}

// oneLine flattens the validator's tree of causes (one per line, each
// with its instance path) into one line.
func oneLine(err error) string {
	lines := strings.Split(err.Error(), "\n")
	if len(lines) > 1 {
		lines = lines[1:] // "jsonschema validation failed with URL": the file is named already
	}
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, " ")
}

// RequestSchema and ResponseSchema name the files of an action's CALL and
// CALLRESULT payloads.
func RequestSchema(action string) string { return action + ".request.json" }

// ResponseSchema names the file of an action's CALLRESULT payload.
func ResponseSchema(action string) string { return action + ".response.json" }

// TaskPayloadSchema names the file of a task type's payload.
func TaskPayloadSchema(typ string) string { return "task." + typ + ".payload.json" }

// TaskResultSchema names the file of a task type's result.
func TaskResultSchema(typ string) string { return "task." + typ + ".result.json" }
