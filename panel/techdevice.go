package panel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// TechDevice is the technician menu's actions on the device itself
// (docs/panel-api.md, "Technician"): a Technician that implements it
// offers them; otherwise their endpoints answer 404.
type TechDevice interface {
	// DiagnosticsToStick writes the diagnostics bundle to each USB stick
	// holding a tessera folder: ErrNoStick when there is none.
	DiagnosticsToStick(ctx context.Context) ([]StickFile, error)
	// ResetInfo says what a factory reset would lose now.
	ResetInfo(ctx context.Context) (ResetInfo, error)
	// FactoryReset wipes the device and restarts it as new; it answers
	// before the device stops. Unsent accounting records refuse it
	// (*UnsentRecordsError) unless force.
	FactoryReset(ctx context.Context, force bool) error
}

// ErrNoStick: no USB stick with a tessera folder is plugged in.
var ErrNoStick = errors.New("no USB stick with a tessera folder")

// StickFile is one file written to a stick: the stick's name (its mount
// directory's), the file's name in its tessera folder, its size.
type StickFile struct {
	Stick string `json:"stick"`
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// ResetInfo is GET /api/v1/technician/reset: the accounting records a
// reset now would lose (the hub has not acknowledged them).
type ResetInfo struct {
	UnsentRecords int `json:"unsent_records"`
}

// UnsentRecordsError refuses a factory reset that would lose records.
type UnsentRecordsError struct{ Records int }

func (e *UnsentRecordsError) Error() string {
	return fmt.Sprintf("%d accounting records not yet sent to the hub", e.Records)
}

// deviceRoutes adds the device actions' endpoints: each needs a live
// technician token; the reset also the PIN again and an explicit
// confirmation (a tap on a screen left open must not wipe the device).
func (a *techAPI) deviceRoutes() {
	a.s.mux.HandleFunc("POST /api/v1/technician/diagnostics", a.enabled(a.authorized(a.withDevice(a.diagnostics))))
	a.s.mux.HandleFunc("GET /api/v1/technician/reset", a.enabled(a.authorized(a.withDevice(a.resetInfo))))
	a.s.mux.HandleFunc("POST /api/v1/technician/reset", a.enabled(a.authorized(a.withDevice(a.reset))))
}

// withDevice answers 404 when the technician offers no device actions.
func (a *techAPI) withDevice(h func(TechDevice, http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, ok := a.s.tech.(TechDevice)
		if !ok {
			writeError(w, http.StatusNotFound, "not-found", "This device does not offer this action.")
			return
		}
		h(d, w, r)
	}
}

func (a *techAPI) diagnostics(d TechDevice, w http.ResponseWriter, r *http.Request) {
	files, err := d.DiagnosticsToStick(r.Context())
	switch {
	case errors.Is(err, ErrNoStick):
		writeError(w, http.StatusConflict, "no-stick", "Insert a USB stick with a folder named tessera, then try again.")
		return
	case err != nil:
		a.s.logger.Warn("diagnostics to the stick failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "stick-failed",
			"The diagnostics could not be written to the stick: it may be full, read-only or pulled out. The agent's log says more.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": files})
}

func (a *techAPI) resetInfo(d TechDevice, w http.ResponseWriter, r *http.Request) {
	info, err := d.ResetInfo(r.Context())
	if err != nil {
		a.s.logger.Warn("reset info failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "The device's state could not be read right now. Please try again.")
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// reset is POST /api/v1/technician/reset {"pin", "confirm": true,
// "force"}: the PIN again, the confirmation screen's answer, and, when
// records are unsent, the second confirmation that loses them.
func (a *techAPI) reset(d TechDevice, w http.ResponseWriter, r *http.Request) {
	var req struct {
		PIN     string `json:"pin"`
		Confirm bool   `json:"confirm"`
		Force   bool   `json:"force"`
	}
	if !a.s.decode(w, r, &req) {
		return
	}
	if !req.Confirm {
		writeError(w, http.StatusBadRequest, "confirm", "Confirm the factory reset first.")
		return
	}
	if !a.checkPIN(w, r, req.PIN) {
		return
	}
	err := d.FactoryReset(r.Context(), req.Force)
	var unsent *UnsentRecordsError
	switch {
	case errors.As(err, &unsent):
		// The count goes beside the error, for the screen that offers
		// to force.
		writeJSON(w, http.StatusConflict, map[string]any{"unsent_records": unsent.Records, "error": apiError{Code: "unsent-records",
			Message: fmt.Sprintf("%d accounting records have not reached the print service yet. Connect the printer and wait, or reset anyway and lose them.", unsent.Records)}})
		return
	case err != nil:
		a.s.logger.Warn("factory reset failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "The factory reset could not be started. The agent's log says why.")
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"state": "resetting"})
}
