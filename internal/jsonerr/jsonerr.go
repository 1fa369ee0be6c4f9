// Package jsonerr says what is wrong with a JSON document in words a
// client understands, without the Go names encoding/json puts in its
// errors ("cannot unmarshal number into Go struct field userDoc.username
// of type string"): a hub or an agent answers with Describe, and keeps the
// error itself for its log.
package jsonerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Describe says what is wrong with a document that failed to decode: a
// syntax error and its byte offset, a field holding the wrong kind of
// value, an unknown field, a document cut short. Words a decoder's own
// UnmarshalJSON wrapped around the error are kept ("a card is a string:
// want a string, got number"); errors of other kinds are the caller's
// words and are kept, with encoding/json's "json: " prefixes dropped.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	words, inner := describe(err)
	if inner == nil {
		return strings.ReplaceAll(err.Error(), "json: ", "")
	}
	// Keep the caller's own words wrapped around the decoder's error.
	full, in := err.Error(), inner.Error()
	if inner != err && strings.HasSuffix(full, in) {
		return strings.ReplaceAll(full[:len(full)-len(in)], "json: ", "") + words
	}
	return words
}

// describe returns the words for the decoder's error in err's chain, and
// that error; nil when err holds none of the kinds it knows.
func describe(err error) (string, error) {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var ie *json.InvalidUnmarshalError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset), se
	case errors.As(err, &te):
		if te.Field == "" {
			return fmt.Sprintf("want %s, got %s", kind(te.Type), te.Value), te
		}
		return fmt.Sprintf("field %q: want %s, got %s", te.Field, kind(te.Type), te.Value), te
	case errors.As(err, &ie):
		return "cannot decode", ie // a program error: nothing to tell the client
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "JSON cut short", io.ErrUnexpectedEOF
	case errors.Is(err, io.EOF):
		return "empty document", io.EOF
	}
	return "", nil
}

// kind names the JSON value a Go type takes.
func kind(t reflect.Type) string {
	if t == nil {
		return "another value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another value"
}
