// Package reattach is the loop every device-backed card reader runs: open
// the device, serve it until it fails, report the change, wait, try again.
// Readers get unplugged and come back; the agent must never stop because of
// it, and the panel must know.
package reattach
