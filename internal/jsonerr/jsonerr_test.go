package jsonerr_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/internal/jsonerr"
)

type card struct {
	Number string `json:"number"`
	Copies int    `json:"copies"`
	Owner  struct {
		Tags []string `json:"tags"`
	} `json:"owner"`
}

func TestDescribe(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`{"number": 5}`, `field "number": want a string, got number`},
		{`{"copies": "many"}`, `field "copies": want an integer in range, got string`},
		{`{"copies": 1e99}`, `field "copies": want an integer in range, got number 1e99`},
		{`{"owner": {"tags": "x"}}`, `field "owner.tags": want a list, got string`},
		{`[1]`, `want an object, got array`},
		{`{"number": "1",}`, `malformed JSON at byte 16`},
		{`{"number": "1"`, `JSON cut short`},
		{``, `empty document`},
		{`{"colour": 1}`, `unknown field "colour"`},
	}
	for _, tc := range tests {
		dec := json.NewDecoder(strings.NewReader(tc.doc))
		dec.DisallowUnknownFields()
		var c card
		err := dec.Decode(&c)
		got := jsonerr.Describe(err)
		if got != tc.want {
			t.Errorf("%s: %q, want %q (from %v)", tc.doc, got, tc.want, err)
		}
		wrapped := fmt.Errorf("policy: {\"number\"}: %w", err)
		if got, want := jsonerr.Describe(wrapped), "policy: {\"number\"}: "+tc.want; got != want {
			t.Errorf("%s wrapped: %q, want %q", tc.doc, got, want)
		}
		for _, internal := range []string{"Go ", "struct", "jsonerr", "card", "json:", "unmarshal"} {
			if strings.Contains(got, internal) {
				t.Errorf("%s: %q names %q", tc.doc, got, internal)
			}
		}
	}
}

func ExampleDescribe() {
	var v struct {
		Copies int `json:"copies"`
	}
	err := json.Unmarshal([]byte(`{"copies": "two"}`), &v)
	fmt.Println(err)
	fmt.Println(jsonerr.Describe(err))
	// Output:
	// json: cannot unmarshal string into Go struct field .copies of type int
	// field "copies": want an integer in range, got string
}
