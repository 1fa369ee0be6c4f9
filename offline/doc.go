// Package offline is the agent's local store: one SQLite database that holds
// the accounting ledger, the outbox of messages still owed to the hub, and the
// release journal that makes every release happen at most once and be charged
// exactly once.
//
// The database survives a power cut during a write: it runs in WAL mode with
// synchronous=FULL, and every change that spans several rows is one
// transaction. CommitPrinted is the durable moment of a release: once it
// returns, the record is on disk and queued for the hub, and only then may the
// person be told "printed".
package offline
