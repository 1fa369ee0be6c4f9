// Package hub is the reference cloud side of Tessera, for development, demos,
// tests and small sites: it holds users with their cards and PINs, stores
// uploaded print jobs until an agent releases them, and records accounting
// and printer events. It serves an admin JSON API (docs/hub-api.md), the
// agents' websocket (the protocol package) and the document downloads.
//
// It is a library so cmd/tessera-hub stays thin and integration tests of
// other packages can run a real hub in-process with httptest.
package hub
