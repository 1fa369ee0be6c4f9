// Package snmp reads the served printer over SNMP v1, v2c and v3: who it
// is (model, serial, MAC), whether it can print now and why not, its page
// counters, supplies, input trays, alerts and console text, using the
// Printer-MIB (RFC 3805) and the Host-Resources MIB, with vendor profiles
// (package profile) for what the standard objects lack.
//
// The package has three layers so that each can be tested on its own: a
// transport (gosnmp) that turns requests into variable bindings, a walker
// that drives GETBULK or GETNEXT over many columns at once and refuses
// answers that do not move forward, and a decoder that turns a plain map of
// OIDs to values into a Reading. The decoder never sees the network, which
// is what the fuzz tests feed.
//
// It also holds the printer status model the rest of the agent uses
// (Status, Reason), the events raised between two readings (Events) and
// the counter arithmetic that survives a Counter32 wrap (Delta).
package snmp
