// Package tcplisten is the network card reader: it listens on a TCP port and
// takes one line per card read from one client at a time (a reader bridge,
// a door controller, or a test). A connected client is an attached reader.
//
// The port hands out logins, so it is loopback-only unless an allowlist of
// client networks is given, and what arrives on it is outside data: lines
// are bounded, must be printable, and are logged only masked.
package tcplisten
