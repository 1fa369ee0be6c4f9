// Package cardnum converts a raw card read into the card number the hub
// knows, with a pipeline of small steps configured as text, as print
// management products do ("ascii-hex|reverse-bytes|hex2dec"): readers of
// the same card disagree on byte order, base and framing, and a site picks
// the conversion that matches its card database.
//
// A pipeline is steps separated by "|"; a step takes arguments in
// parentheses, separated by ","; an argument that contains "|", "," or ")"
// (or quotes, or spaces at its ends) is written as a double-quoted Go string
// literal. Parse errors name the 1-based column. Conversion errors never
// contain the card number, so they can be logged.
//
// Steps: hex2dec, dec2hex, ascii-hex (decode), reverse-bytes, reverse-bits
// (within each byte), left(n), right(n), mid(start,len) (start 1-based),
// ltrim(c), rtrim(c), lpad(n,c), rpad(n,c), prepend(s), append(s),
// regex(expr) (the first capture group), and the Wiegand decoders
// wiegand26 (H10301), wiegand34 (H10306), wiegand35 (HID Corporate 1000),
// wiegand37 (H10304; wiegand37(h10302) for the 35-bit card number of
// H10302), which check parity and give the card number, or "FFF:CCCCC"
// (facility:card, zero-padded) with the argument fc.
//
// Renderings lists the common conversions of a raw read, so an
// administrator can see which one matches the number a card should have;
// Infer goes further and finds the pipeline from three or more examples
// of a read and the number it should give.
package cardnum
