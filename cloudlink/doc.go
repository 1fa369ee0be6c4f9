// Package cloudlink is the agent's one websocket to the hub.
//
// A Link dials the hub (through a proxy and with verified TLS when asked),
// boots, keeps the connection alive with heartbeats at the interval the hub
// chose and, when the connection is lost, reconnects with exponential backoff
// and full jitter so that a fleet of agents does not come back in the same
// second. While connected it offers the typed calls of the protocol package
// (Authorize, ListJobs, …) and Fetch, which streams a job's document and
// verifies its size and sha256 as it goes.
//
// Only the agent uses it; the hub side of the same contract lives in package
// hub, and both speak package protocol.
package cloudlink
