package panel

import (
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/config"
)

// TestLanguagesHaveCatalogues: the languages config accepts are exactly
// the page's message catalogues, so a device language the config lets
// through is one the page speaks.
func TestLanguagesHaveCatalogues(t *testing.T) {
	files, err := fs.Glob(web, "web/i18n/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, f := range files {
		have = append(have, strings.TrimSuffix(strings.TrimPrefix(f, "web/i18n/"), ".json"))
	}
	want := slices.Clone(config.Languages)
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		t.Errorf("catalogues %v, config.Languages %v", have, want)
	}
}
