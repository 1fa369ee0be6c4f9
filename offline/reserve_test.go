package offline

import (
	"errors"
	"testing"
)

// fakeSpace is a FreeSpace a test sets.
type fakeSpace struct {
	free int64
	err  error
	dirs []string
}

func (f *fakeSpace) Free(dir string) (int64, error) {
	f.dirs = append(f.dirs, dir)
	return f.free, f.err
}

func TestReserveCheck(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name    string
		reserve *Reserve
		space   fakeSpace
		full    bool
	}{
		{"no reserve configured", &Reserve{MinFree: 0}, fakeSpace{free: 0}, false},
		{"nil reserve", nil, fakeSpace{}, false},
		{"room", &Reserve{MinFree: 64 * mib}, fakeSpace{free: 65 * mib}, false},
		{"exactly the reserve", &Reserve{MinFree: 64 * mib}, fakeSpace{free: 64 * mib}, false},
		{"below the reserve", &Reserve{MinFree: 64 * mib}, fakeSpace{free: 64*mib - 1}, true},
		{"nothing free", &Reserve{MinFree: 64 * mib}, fakeSpace{free: 0}, true},
		{"free space unreadable: not taken for full", &Reserve{MinFree: 64 * mib}, fakeSpace{err: errors.New("statfs: EIO")}, false},
	}
	for _, tc := range tests {
		if tc.reserve != nil {
			tc.reserve.Dir, tc.reserve.Space = "/var/lib/tessera", &tc.space
		}
		err := tc.reserve.Check()
		if full := errors.Is(err, ErrDiskFull); full != tc.full || (err != nil && !full) {
			t.Errorf("%s: Check = %v, want full %v", tc.name, err, tc.full)
		}
		if tc.reserve != nil && tc.reserve.MinFree > 0 && (len(tc.space.dirs) != 1 || tc.space.dirs[0] != "/var/lib/tessera") {
			t.Errorf("%s: read %v, want the data directory", tc.name, tc.space.dirs)
		}
	}
}

// The real statfs reads a directory's file system.
func TestStatfsReadsTheDirectory(t *testing.T) {
	free, err := Statfs{}.Free(t.TempDir())
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil || free <= 0 {
		t.Errorf("Free = %d, %v", free, err)
	}
}
