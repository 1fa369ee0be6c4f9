// Package lines holds what the line-based card readers share: the bound on
// a read, the check that a read is printable ASCII, and a bounded
// line scanner. Reads are outside data, so every driver applies the same
// rules before a value reaches the session.
package lines
