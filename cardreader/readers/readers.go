package readers

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/cardreader/evdev"
	"github.com/tessera-print/tessera/cardreader/mfrc522"
	"github.com/tessera-print/tessera/cardreader/serial"
	"github.com/tessera-print/tessera/cardreader/tcpclient"
	"github.com/tessera-print/tessera/cardreader/tcplisten"
)

// Schemes lists the spec forms Open accepts, for messages.
const Schemes = "tcp-listen://HOST:PORT, tcp://HOST:PORT, evdev:///dev/input/by-id/..., evdev:?name=..., serial:///dev/ttyUSB0, serial://usb/VID:PID, mfrc522://SPI0.0"

// Open parses spec and returns its reader, named by the spec. A
// tcp-listen reader binds its port here, so a busy port fails at start-up;
// the other drivers open their device in Run, and report it detached until
// it is there. logger may be nil.
func Open(spec string, logger *slog.Logger) (cardreader.Reader, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("reader", spec)
	r, err := open(spec, log)
	if err != nil {
		return nil, fmt.Errorf("reader %q: %w", spec, err)
	}
	return r, nil
}

// Check reports what Open would refuse in spec, without opening anything:
// no port is bound, no device touched (config validation, before start-up).
func Check(spec string) error {
	var err error
	if strings.HasPrefix(spec, tcplisten.Scheme) {
		// Listen would bind the port; the spec is all there is to check.
		_, err = tcplisten.ParseSpec(spec)
	} else {
		// The other drivers' New only checks: their device opens in Run.
		_, err = open(spec, slog.New(slog.DiscardHandler))
	}
	if err != nil {
		return fmt.Errorf("reader %q: %w", spec, err)
	}
	return nil
}

func open(spec string, log *slog.Logger) (cardreader.Reader, error) {
	switch {
	case strings.HasPrefix(spec, tcplisten.Scheme):
		addr, err := tcplisten.ParseSpec(spec)
		if err != nil {
			return nil, err
		}
		return tcplisten.Listen(addr, log, tcplisten.WithName(spec))
	case strings.HasPrefix(spec, tcpclient.Scheme):
		cfg, err := tcpclient.ParseSpec(spec)
		if err != nil {
			return nil, err
		}
		return tcpclient.New(cfg, log, tcpclient.WithName(spec))
	case strings.HasPrefix(spec, evdev.Scheme):
		cfg, err := evdev.ParseSpec(spec)
		if err != nil {
			return nil, err
		}
		return evdev.New(cfg, log, evdev.WithName(spec))
	case strings.HasPrefix(spec, serial.Scheme):
		cfg, err := serial.ParseSpec(spec)
		if err != nil {
			return nil, err
		}
		return serial.New(cfg, log, serial.WithName(spec))
	case strings.HasPrefix(spec, mfrc522.Scheme):
		cfg, err := mfrc522.ParseSpec(spec)
		if err != nil {
			return nil, err
		}
		return mfrc522.New(cfg, log, mfrc522.WithName(spec))
	}
	return nil, fmt.Errorf("unknown kind of reader (want one of %s)", Schemes)
}
