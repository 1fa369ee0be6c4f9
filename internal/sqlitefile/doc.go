// Package sqlitefile holds what Tessera's two SQLite stores (hub, the
// hub's database, and offline, the agent's) share about the database file
// itself: the driver's connection string (DSN), creating the file readable
// by its owner only before SQLite opens it, the check at open that the
// database really runs durably (WAL, synchronous=FULL), and the driver's
// error classes (IsBusy, IsUnique).
//
// It knows nothing of schemas: each store keeps its own migrations and
// passes the connection parameters that are its own (foreign keys) to DSN.
//
// The driver's error type exists only in a cgo build; without cgo the
// driver opens nothing, IsBusy and IsUnique report false, and the package
// only type-checks (GOOS=darwin go vet).
package sqlitefile
