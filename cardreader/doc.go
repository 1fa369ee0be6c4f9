// Package cardreader is the small contract between badge-reader drivers and
// the rest of the agent: a driver is a Reader that delivers raw reads and
// attach/detach events to a Sink, and never gives up on a device error
// (readers get unplugged; the agent must keep running and reattach).
//
// Raw reads are debounced here, once, for all drivers, because every reader
// kind repeats a card that stays on it. Card numbers are sensitive: log them
// only through Masked. Converting a raw read into the number the hub knows is
// the job of the cardnum subpackage.
package cardreader
