package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// Rotation moves the file to FILE.1 when a write would pass the limit,
// keeps one old file, and a file reopened counts what it holds.
func TestRotation(t *testing.T) {
	cases := []struct {
		name      string
		before    string // what FILE holds before Open
		writes    []string
		cur, prev string
	}{
		{"under the limit", "", []string{"aaaa\n", "bbbb\n"}, "aaaa\nbbbb\n", ""},
		{"at the limit exactly", "", []string{"aaaa\n", "bbbbb\n"}, "aaaa\nbbbbb\n", ""},
		{"past the limit", "", []string{"aaaa\n", "bbbb\n", "cccc\n"}, "cccc\n", "aaaa\nbbbb\n"},
		{"one old file kept", "", []string{"aaaaaaa\n", "bbbbbbb\n", "ccccccc\n"}, "ccccccc\n", "bbbbbbb\n"},
		{"a write larger than the limit", "", []string{"a\n", strings.Repeat("x", 20) + "\n"}, strings.Repeat("x", 20) + "\n", "a\n"},
		{"reopened file counted", "0123456789\n", []string{"dddd\n"}, "dddd\n", "0123456789\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tessera.log")
			if c.before != "" {
				if err := os.WriteFile(path, []byte(c.before), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			w, err := Open(path, 11)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			for _, s := range c.writes {
				if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if got := read(t, path); got != c.cur {
				t.Errorf("FILE holds %q, want %q", got, c.cur)
			}
			if got := read(t, path+".1"); got != c.prev {
				t.Errorf("FILE.1 holds %q, want %q", got, c.prev)
			}
			want := []string{path}
			if c.prev != "" {
				want = []string{path + ".1", path}
			}
			if got := w.Files(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("Files() = %v, want %v", got, want)
			}
		})
	}
}

// Concurrent writers never split a line across files nor interleave two
// lines; the file is owner-only.
func TestConcurrentWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tessera.log")
	w, err := Open(path, 4096)
	if err != nil {
		t.Fatal(err)
	}
	const writers, lines = 8, 200
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for j := range lines {
				fmt.Fprintf(w, "writer %d line %03d %s\n", i, j, strings.Repeat("z", 40))
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	for _, p := range []string{path + ".1", path} {
		b := []byte(read(t, p))
		if int64(len(b)) > 4096 {
			t.Errorf("%s holds %d bytes, past the limit", p, len(b))
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
			var i, j int
			var tail string
			if n, err := fmt.Sscanf(string(line), "writer %d line %d %s", &i, &j, &tail); n != 3 || err != nil || len(tail) != 40 {
				t.Fatalf("%s: torn line %q", p, line)
			}
		}
	}
	if _, err := w.Write([]byte("late\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v, want os.ErrClosed", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		path string
		max  int64
	}{
		{"no path", "", 10},
		{"no limit", filepath.Join(dir, "a.log"), 0},
		{"no directory", filepath.Join(dir, "missing", "a.log"), 10},
	}
	for _, c := range cases {
		if w, err := Open(c.path, c.max); err == nil {
			w.Close()
			t.Errorf("%s: Open(%q, %d) succeeded", c.name, c.path, c.max)
		}
	}
}
