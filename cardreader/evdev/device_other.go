//go:build !linux

package evdev

import (
	"errors"
	"io"
)

func openDevice(dir string, sel Selector) (io.ReadCloser, error) {
	return nil, errors.New("evdev readers need Linux")
}
