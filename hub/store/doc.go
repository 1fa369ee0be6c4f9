// Package store is the hub's database handle over two engines: SQLite, a
// file in the hub's data directory (the default: a site with a few
// printers runs one hub and sets nothing up), and PostgreSQL, shared by
// several hub nodes (issue 13).
//
// The hub writes its SQL once, in the dialect both engines share, with ?
// placeholders; DB and Tx rebind them for PostgreSQL ($1, $2, ...). Each
// engine brings its own versioned migrations. What the hub's guarantees
// rest on holds on both: on SQLite every write transaction takes the
// database's one write lock when it begins (BEGIN IMMEDIATE); on
// PostgreSQL a write transaction, and a write statement outside one,
// takes one advisory lock shared by every node, so a transaction that
// reads and then writes never interleaves with another writer on either
// engine. Reads run beside the writer on both.
//
// What the hub's SQL keeps to, so that it runs the same on both
// (contract_test.go checks each on both engines):
//   - placeholders are ? or SQLite's numbered ?NNN; a ? in a quoted
//     string stays;
//   - flags are integer columns: a Go bool argument is stored as 1 or 0,
//     so a condition on one compares it (flag = ?, CASE WHEN ? = 1),
//     never uses it bare, which PostgreSQL takes as a boolean;
//   - a comparison selected as a value scans into a Go bool (SQLite
//     gives 1/0, PostgreSQL a boolean);
//   - a new row's id comes back through RETURNING (PostgreSQL's driver
//     has no LastInsertId); outside a transaction a write with RETURNING
//     goes through QueryRowContext, whose Scan commits it;
//   - a read-only transaction (sql.TxOptions{ReadOnly: true}) waits for
//     no writer and may not write;
//   - text compares byte by byte (PostgreSQL's schema says COLLATE "C").
package store
