// Package ipp is the agent's IPP client for the printer it serves: the
// printer's capabilities and state (Get-Printer-Attributes), a streamed
// Print-Job of a document of known length, and following a job to its end
// (Get-Job-Attributes, Get-Jobs).
//
// Requests are encoded with github.com/phin1x/go-ipp and responses decoded
// with it, but the HTTP exchange is this package's own: go-ipp's adapter
// skips TLS verification unless given a client, buffers responses without
// a bound, and its decoder panics on some malformed input (negative
// lengths). Here TLS is always verified, a response may be at most
// maxResponse bytes, and decoding runs under recover, so a broken or
// hostile printer yields an error, never a crash.
package ipp
