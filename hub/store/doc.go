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
package store
