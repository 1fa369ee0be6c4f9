// Package release is the release engine: it lists a user's held jobs from the
// job sources, claims a job exactly once in the agent's journal, streams its
// document to the printer, follows it to the end and charges what printed.
//
// The engine consumes small interfaces (Hub, Printer, Journal) so it can be
// driven by fakes in unit tests and by the real hub, store and printer in
// the integration tests.
package release
