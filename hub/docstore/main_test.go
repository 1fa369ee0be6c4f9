package docstore

import (
	"fmt"
	"os"
	"testing"

	"github.com/tessera-print/tessera/internal/testenv"
)

// sharedPG is the package's one PostgreSQL cluster, started by TestMain;
// each test takes a database of its own. Set once before the tests run.
var sharedPG *testenv.Postgres

func TestMain(m *testing.M) {
	pg, stop, err := testenv.StartPostgresMain()
	if err != nil {
		// Each test that asks for a database says it again, and fails
		// under CI=true (testenv.Unavailable).
		fmt.Fprintln(os.Stderr, "hub/docstore tests:", err)
	}
	sharedPG = pg
	code := m.Run()
	stop()
	os.Exit(code)
}
