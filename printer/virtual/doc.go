// Package virtual is the built-in virtual IPP printer of `make demo`: a
// small IPP/2.0 printer in pure Go that accepts Print-Job, keeps each
// document in a folder, counts its pages, and "prints" it after a short
// delay, reporting job-impressions-completed like a real device. It lets
// the whole release flow run on a machine with nothing but Go.
//
// Requests are decoded with github.com/OpenPrinting/goipp rather than
// github.com/phin1x/go-ipp (which the client side uses): a server decodes
// untrusted input, and go-ipp's decoder panics on negative lengths,
// silently accepts short reads and knows only the attribute groups of
// responses, while goipp checks every length, reads exactly the request's
// attributes from the stream (leaving the document after them unread),
// and encodes responses with explicit value tags.
package virtual
