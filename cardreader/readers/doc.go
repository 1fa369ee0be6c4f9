// Package readers turns a reader spec, as given to `tessera run --reader`,
// into a running-ready cardreader.Reader of the right driver. It is the
// one place that knows every driver, so the drivers stay independent of
// each other and the agent depends on this registry only.
//
// Specs:
//
//	tcp-listen://HOST:PORT[?allow=CIDR,...]        cardreader/tcplisten
//	tcp://HOST:PORT[?allow=CIDR,...]               cardreader/tcpclient
//	evdev:///dev/input/by-id/...[?options]         cardreader/evdev
//	evdev:?name=NAME|id=VVVV:PPPP[&options]        (keymap, prefix, suffix, gap)
//	serial:///dev/ttyUSB0[?baud=9600&frame=crlf]   cardreader/serial
//	serial://usb/VID:PID[?options]                 (databits, parity, stopbits, gap)
//	mfrc522://SPI0.0[?rst=GPIO25&poll=150ms]       cardreader/mfrc522
//
// A bad spec fails in Open, at start-up, with the spec and the reason.
package readers
