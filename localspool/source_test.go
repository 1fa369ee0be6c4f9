package localspool

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/release"
)

// TestOwnerNamesNormalisedBothSides: under the default user_name_rule
// (docs/config.md: DOMAIN\user, user@realm and case are the same person), a
// job printed as CORP\Alice is listed for her session under any form of her
// name, whether the engine normalised it first or not.
func TestOwnerNamesNormalisedBothSides(t *testing.T) {
	rule, err := release.UserRule(config.Default().UserNameRule)
	if err != nil {
		t.Fatal(err)
	}
	s := newSpool(t, Config{Normalize: rule})
	uri, _ := serve(t, s)
	id := holdOne(t, s, uri, `CORP\Alice`, testdata(t, "gs-3-pages.pdf"))
	store, err := offline.Open(t.Context(), filepath.Join(t.TempDir(), "journal.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	engine := release.New(release.Config{Sources: []release.Source{s}, Journal: store,
		Logger: slog.New(slog.DiscardHandler), NormalizeUser: rule})

	for _, session := range []string{"alice", "Alice", "alice@CORP.EXAMPLE"} {
		t.Run(session, func(t *testing.T) {
			ctx := t.Context()
			if jobs, err := s.List(ctx, session); err != nil || len(jobs) != 1 || jobs[0].ID != id {
				t.Errorf("Spool.List(%q) = %+v, %v", session, jobs, err)
			}
			if jobs, err := engine.Jobs(ctx, release.Who{Username: session}, false); err != nil || len(jobs) != 1 || jobs[0].ID != "local:"+id ||
				jobs[0].Owner != `CORP\Alice` {
				t.Errorf("Engine.Jobs(%q) = %+v, %v", session, jobs, err)
			}
			doc, err := s.Open(ctx, id, session)
			if err != nil {
				t.Fatalf("Open as %q: %v", session, err)
			}
			doc.Body.Close()
		})
	}
	for _, other := range []string{"bob", `CORP\Bob`, "alice2"} {
		if jobs, _ := s.List(t.Context(), other); len(jobs) != 0 {
			t.Errorf("List(%q) = %+v", other, jobs)
		}
		if _, err := s.Open(t.Context(), id, other); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open as %q: %v", other, err)
		}
	}
	if err := engine.Delete(t.Context(), release.Who{Username: "Alice"}, "local:"+id); err != nil {
		t.Errorf("Delete as Alice: %v", err)
	}
}

// TestHeldCarriesMedia: the paper the job asked for reaches the release.
func TestHeldCarriesMedia(t *testing.T) {
	s := newSpool(t, Config{})
	uri, _ := serve(t, s)
	for _, media := range []string{"na_letter_8.5x11in", "iso_a4_210x297mm"} {
		id := holdOne(t, s, uri, "alice", testdata(t, "gs-3-pages.pdf"),
			goipp.MakeAttr("media", goipp.TagKeyword, goipp.String(media)))
		jobs, err := s.List(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		var got *release.Held
		for i := range jobs {
			if jobs[i].ID == id {
				got = &jobs[i]
			}
		}
		if got == nil || got.Media != media {
			t.Errorf("held job %s = %+v, want media %s", id, got, media)
		}
	}
}
