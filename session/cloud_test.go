package session

import (
	"testing"
	"time"
)

// The link's state: offline since the start until it connects; a loss
// starts offline_since, which attempts to connect (connecting) keep; being
// online clears it.
func TestCloudStates(t *testing.T) {
	f := newFixture(t)
	start := f.clock.Now()
	steps := []struct {
		do        func()
		cloud     string
		since     time.Time // zero: none
		advanceBy time.Duration
	}{
		{func() {}, CloudOffline, start, time.Minute},
		{f.m.SetCloudConnecting, CloudConnecting, start, time.Minute},
		{func() { f.m.SetCloud(true) }, CloudOnline, time.Time{}, time.Minute},
		{f.m.SetCloudConnecting, CloudOnline, time.Time{}, 0}, // the loss comes first
		{func() { f.m.SetCloud(false) }, CloudOffline, start.Add(3 * time.Minute), time.Minute},
		{f.m.SetCloudConnecting, CloudConnecting, start.Add(3 * time.Minute), time.Minute},
		{func() { f.m.SetCloud(false) }, CloudOffline, start.Add(3 * time.Minute), 0},
	}
	for i, s := range steps {
		s.do()
		v := f.m.View()
		if v.Cloud != s.cloud || (v.OfflineSince == nil) != s.since.IsZero() || (v.OfflineSince != nil && !v.OfflineSince.Equal(s.since)) {
			t.Fatalf("step %d: cloud %q since %v, want %q %v", i, v.Cloud, v.OfflineSince, s.cloud, s.since)
		}
		f.clock.Advance(s.advanceBy)
	}
}
