package panel

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// pluralForms are the forms a plural message has in each language (CLDR
// cardinal categories for integers): Czech has three.
var pluralForms = map[string][]string{
	"en": {"one", "other"},
	"fr": {"one", "other"},
	"de": {"one", "other"},
	"cs": {"few", "one", "other"},
}

// Keys in the page: app.js writes every key as a quoted literal in a call
// of t (look it up now) or N (name it for later); index.html in
// data-i18n="key". A key built at run time would escape this check, so
// app.js never builds one.
var (
	scriptKey = regexp.MustCompile(`\b[tN]\('([^']*)'`)
	htmlKey   = regexp.MustCompile(`data-i18n="([^"]*)"`)
)

// catalogue reads web/i18n/LANG.json: key to a string, or to an object of
// plural forms.
func catalogue(t *testing.T, lang string) map[string]json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("web", "i18n", lang+".json"))
	if err != nil {
		t.Fatalf("catalogue %s: %v", lang, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("catalogue %s: %v", lang, err)
	}
	return m
}

func usedKeys(t *testing.T) map[string]bool {
	t.Helper()
	used := map[string]bool{}
	for file, re := range map[string]*regexp.Regexp{"app.js": scriptKey, "index.html": htmlKey} {
		b, err := os.ReadFile(filepath.Join("web", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	return used
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestCatalogueKeys: every language has exactly en.json's keys, a message
// is a string in one and plural in another never, and plural messages have
// exactly their language's forms.
func TestCatalogueKeys(t *testing.T) {
	en := catalogue(t, "en")
	files, err := filepath.Glob(filepath.Join("web", "i18n", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var langs []string
	for _, f := range files {
		langs = append(langs, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	if want := sortedKeys(pluralForms); !slices.Equal(langs, want) {
		t.Fatalf("catalogues %v, want %v (a new language needs its plural forms here and in app.js's plural)", langs, want)
	}
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			cat := catalogue(t, lang)
			for _, k := range sortedKeys(en) {
				if _, ok := cat[k]; !ok {
					t.Errorf("%s.json misses %q", lang, k)
				}
			}
			for _, k := range sortedKeys(cat) {
				if _, ok := en[k]; !ok {
					t.Errorf("%s.json has %q, which en.json has not", lang, k)
					continue
				}
				checkMessage(t, lang, k, cat[k], en[k])
			}
		})
	}
}

func checkMessage(t *testing.T, lang, key string, msg, enMsg json.RawMessage) {
	t.Helper()
	var s string
	if json.Unmarshal(msg, &s) == nil {
		if s == "" {
			t.Errorf("%s %q is empty", lang, key)
		}
		if json.Unmarshal(enMsg, new(string)) != nil {
			t.Errorf("%s %q is a plain string, plural in en.json", lang, key)
		}
		return
	}
	var forms map[string]string
	if err := json.Unmarshal(msg, &forms); err != nil {
		t.Errorf("%s %q is neither a string nor plural forms: %v", lang, key, err)
		return
	}
	if got, want := sortedKeys(forms), pluralForms[lang]; !slices.Equal(got, want) {
		t.Errorf("%s %q has plural forms %v, want %v", lang, key, got, want)
	}
	for f, v := range forms {
		if !strings.Contains(v, "{n}") {
			t.Errorf("%s %q form %s does not say the number ({n}): %q", lang, key, f, v)
		}
	}
}

// TestCatalogueKeysUsed: every key of en.json is used by the page and
// every key the page uses is in en.json (so, by TestCatalogueKeys, in all).
func TestCatalogueKeysUsed(t *testing.T) {
	en := catalogue(t, "en")
	used := usedKeys(t)
	if len(used) == 0 {
		t.Fatal("found no key in app.js or index.html: the patterns no longer match the page")
	}
	for _, k := range sortedKeys(used) {
		if _, ok := en[k]; !ok {
			t.Errorf("the page uses %q, which en.json has not", k)
		}
	}
	for _, k := range sortedKeys(en) {
		if !used[k] {
			t.Errorf("en.json has %q, which neither app.js nor index.html uses", k)
		}
	}
}
