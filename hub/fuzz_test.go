package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"
)

// FuzzDecodeUserDoc feeds arbitrary bodies to the user document decoder:
// it must never panic, and a card or PIN given as a string must come back
// as exactly that value.
func FuzzDecodeUserDoc(f *testing.F) {
	for _, seed := range []string{
		`{"username":"alice","cards":["04A1B2C3",{"value":"X","expires_at":"2025-03-02T09:00:00Z"}],"pins":["2580"]}`,
		`{"cards":[{"value":"T","temporary":true},{"value":"U","temporary":false,"expires_at":"2025-03-02T09:00:00Z"}]}`,
		`{"username":"bob","password":null,"cards":null,"pins":[]}`,
		`{"cards":[{"value":"1"}]}`,
		`{"username":"c","policy":{"force_mono":true,"windows":[{"days":["mon"],"from":"08:00","to":"18:00"}],"quota_pages":5}}`,
		`{"policy":null}`,
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
				if err := json.Unmarshal(b, &back); err != nil || back.Value != c.Value || back.ExpiresAt != nil || back.Temporary {
					t.Fatalf("credential %q round trip: %q %v", c.Value, back.Value, err)
				}
			}
		}
	})
}

// FuzzCredential checks the string-or-object form on its own.
func FuzzCredential(f *testing.F) {
	for _, seed := range []string{`"2580"`, `{"value":"2580"}`, `{"value":"2580","temporary":true}`, `{"value":"x","expires_at":"2025-03-02T09:00:00+01:00"}`,
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

// FuzzDecodeImport feeds arbitrary bodies to the bulk import decoder: it
// must never panic, and every refusal is an API error of the documented
// kinds, with an entry index only on a 422.
func FuzzDecodeImport(f *testing.F) {
	for _, seed := range []string{
		`{"users":[{"username":"alice","cards":["04A1B2C3",{"value":"X","temporary":true}],"pins":["25807391"]}]}`,
		`{"users":[]}`, `{"users":null}`, `{"users":[42]}`, `{"users":[{"email":"x"}]}`,
		`{"users":[{"username":"b"},{"username":}]}`, `{"users":[],"users":[]}`, `{"users":[]} x`,
		`{}`, `[]`, ``, `{"users":[{"cards":[{"value":"1","temporary":"no"}]}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := decodeImport(bytes.NewReader(data))
		if err == nil {
			if len(docs) > maxImportUsers {
				t.Fatalf("%d users decoded", len(docs))
			}
			return
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			t.Fatalf("not an API error: %v", err)
		}
		switch ae.status {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if ae.index != nil {
				t.Fatalf("%d with an index: %v", ae.status, ae)
			}
		case http.StatusUnprocessableEntity:
			if ae.index == nil || *ae.index < 0 || *ae.index > len(data) {
				t.Fatalf("422 without a sane index: %v", ae)
			}
		default:
			t.Fatalf("status %d: %v", ae.status, ae)
		}
	})
}

// FuzzPolicy feeds arbitrary "policy" objects to the decoder and the
// validator: never a panic, and a policy they accept is stored and read
// back (wire and view) as the same rules, which validate again.
func FuzzPolicy(f *testing.F) {
	for _, seed := range []string{
		`{"force_mono":true,"duplex_above":10,"quota_pages":100,"windows":[{"days":["mon","fri"],"from":"08:00","to":"18:00"}]}`,
		`{"windows":[{"from":"00:00","to":"24:00"},{"days":["SUN"],"from":"23:59","to":"24:00"}]}`,
		`{"quota_pages":null}`, `{"quota_pages":-1}`, `{"duplex_above":1e3}`, `{"windows":[{"from":"24:00","to":"24:00"}]}`,
		`{"windows":[{"days":["mon","mon"],"from":"08:00","to":"09:00"}]}`, `{"windows":null}`, `{"x":1}`, `[]`, `null`, `{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d policyDoc
		if err := json.Unmarshal(data, &d); err != nil {
			return
		}
		rules, _, quota, err := checkPolicy(d)
		if err != nil {
			return
		}
		c := userChange{policySet: true, policy: &rules, quotaSet: true, quota: quota}
		col, q := c.policyColumns()
		p, err := readPolicy(col, q)
		if err != nil || p == nil {
			t.Fatalf("stored policy %q does not read back: %v", col.String, err)
		}
		if !reflect.DeepEqual(p.rules, rules) {
			t.Fatalf("stored rules %+v read back as %+v", rules, p.rules)
		}
		w := p.wire()
		if (quota == nil) != (w.QuotaPages == nil) || quota != nil && *quota != *w.QuotaPages {
			t.Fatalf("quota %v sent as %v", quota, w.QuotaPages)
		}
		for i, win := range w.Windows {
			if _, err := checkWindow(windowDoc{Days: win.Days, From: win.From, To: win.To}); err != nil {
				t.Fatalf("window %d %+v does not validate again: %v", i, win, err)
			}
		}
		if v := p.view(); v.Windows == nil || v.ForceMono != rules.ForceMono || v.DuplexAbove != rules.DuplexAbove {
			t.Fatalf("view %+v of %+v", v, rules)
		}
	})
}
