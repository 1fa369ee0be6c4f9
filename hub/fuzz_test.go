package hub

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecodeUserDoc feeds arbitrary bodies to the user document decoder:
// it must never panic, and a card or PIN given as a string must come back
// as exactly that value.
func FuzzDecodeUserDoc(f *testing.F) {
	for _, seed := range []string{
		`{"username":"alice","cards":["04A1B2C3",{"value":"X","expires_at":"2025-03-02T09:00:00Z"}],"pins":["2580"]}`,
		`{"username":"bob","password":null,"cards":null,"pins":[]}`,
		`{"cards":[{"value":"1"}]}`,
		`{"cards":[{"expires_at":"2025-03-02T09:00:00Z"}]}`,
		`{"pins":[{"value":"2580","extra":1}]}`,
		`{"cards":[42]}`,
		`{"cards":"04A1"}`,
		`{"username":"a"} {}`,
		`[]`, `null`, `"x"`, ``, `{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeUserDoc(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, list := range [][]Credential{d.Cards.Value, d.PINs.Value} {
			for _, c := range list {
				// Re-encode as a string and decode again: the value survives.
				b, _ := json.Marshal(c.Value)
				var back Credential
				if err := json.Unmarshal(b, &back); err != nil || back.Value != c.Value || back.ExpiresAt != nil {
					t.Fatalf("credential %q round trip: %q %v", c.Value, back.Value, err)
				}
			}
		}
	})
}

// FuzzCredential checks the string-or-object form on its own.
func FuzzCredential(f *testing.F) {
	for _, seed := range []string{`"2580"`, `{"value":"2580"}`, `{"value":"x","expires_at":"2025-03-02T09:00:00+01:00"}`,
		`{"value":null}`, `{}`, `1`, `[]`, `"\u0000"`, `  "a" `} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Credential
		if err := json.Unmarshal(data, &c); err != nil {
			return
		}
		var s string
		if json.Unmarshal(data, &s) == nil && c.Value != s {
			t.Fatalf("string form %q decoded as %q", s, c.Value)
		}
	})
}

// FuzzCursor: a cursor from a client never panics, and ours round-trip.
func FuzzCursor(f *testing.F) {
	f.Add("YzA", int64(0))
	f.Add("YzEyMw", int64(123))
	f.Add("!!", int64(-1))
	f.Fuzz(func(t *testing.T, c string, n int64) {
		_, _ = decodeCursor(c)
		if n >= 0 {
			got, err := decodeCursor(encodeCursor(n))
			if err != nil || got != n {
				t.Fatalf("cursor %d round trip: %d %v", n, got, err)
			}
		}
	})
}
