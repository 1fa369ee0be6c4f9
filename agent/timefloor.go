package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/offline"
)

// settingTimeFloor is the settings row holding the latest time the agent
// knew at its last write: the next run's "now is at least".
const settingTimeFloor = "time_floor"

// floorStore is the part of the store the time floor uses.
type floorStore interface {
	Setting(ctx context.Context, key string) (string, bool, error)
	SetSetting(ctx context.Context, key, value string) error
}

var _ floorStore = (*offline.Store)(nil)

// loadTimeFloor raises floor to the time the last run saved. A row that
// does not parse is logged and ignored: the build time still bounds now.
func loadTimeFloor(ctx context.Context, st floorStore, floor *clock.Floor, log *slog.Logger) error {
	v, ok, err := st.Setting(ctx, settingTimeFloor)
	if err != nil || !ok {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		log.Warn("clock: the saved time floor does not parse; ignored", "value", v, "err", err)
		return nil
	}
	floor.Raise(t, "store")
	return nil
}

// saveTimeFloor saves what the floor says now is, when it is later than
// the saved value: it is called beside writes the agent makes anyway (a
// committed release) and at shutdown, never on a timer, so an idle box
// does not write to its flash.
func saveTimeFloor(ctx context.Context, st floorStore, floor *clock.Floor) error {
	now := floor.Now().UTC()
	if v, ok, err := st.Setting(ctx, settingTimeFloor); err != nil {
		return fmt.Errorf("time floor: %w", err)
	} else if ok {
		if saved, err := time.Parse(time.RFC3339Nano, v); err == nil && !now.After(saved) {
			return nil
		}
	}
	if err := st.SetSetting(ctx, settingTimeFloor, now.Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("time floor: %w", err)
	}
	return nil
}
