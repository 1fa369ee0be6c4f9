// Package serial is the driver for card readers on a serial line: RS-232
// readers and USB readers that show up as a tty (/dev/ttyUSB0, /dev/ttyACM0)
// through go.bug.st/serial. The port is named by path or by USB vendor and
// product id (usb/VID:PID), which survives re-plugging into another socket.
//
// Readers frame their reads in one of a few ways: STX … ETX (a checksum
// byte after ETX is skipped), a line ending (CR LF, CR or LF), or a fixed
// number of bytes. The Framer is separate from the port I/O so it can be
// fuzzed; a quiet gap drops a partial frame, so a byte lost on the line
// cannot shift every later fixed-length frame.
package serial
