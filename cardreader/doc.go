// Package cardreader is the small contract between badge-reader drivers and
// the rest of the agent: a driver is a Reader that delivers raw reads and
// attach/detach events to a Sink, and never gives up on a device error
// (readers get unplugged; the agent must keep running and reattach).
//
// Raw reads are debounced here, once, for all drivers, because every reader
// kind repeats a card that stays on it. Card numbers are sensitive: log them
// only through Masked. Converting a raw read into the number the hub knows is
// the job of the cardnum subpackage.
//
// As periph.io lays out devices, each driver is its own package beside this
// interface: tcplisten and tcpclient (network), evdev (USB keyboard-wedge
// readers), serial (tty readers), mfrc522 (SPI); fakereader is the fake for
// tests. The readers package turns a --reader spec into the right one.
package cardreader
