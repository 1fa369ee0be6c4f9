//go:build !cgo

package hub

import (
	"context"
	"database/sql"
	"errors"

	"github.com/tessera-print/tessera/clock"
)

// onlineCopy needs the SQLite driver, which needs cgo; without cgo no
// database opens either (this file lets the package type-check for other
// systems: GOOS=darwin go vet).
func onlineCopy(context.Context, clock.Clock, *sql.Conn, *sql.Conn) error {
	return errors.New("SQLite's backup API needs a cgo build")
}
