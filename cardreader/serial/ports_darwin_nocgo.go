//go:build darwin && !cgo

package serial

import "errors"

// listPorts: the enumerator reads USB ids through IOKit, which needs cgo on
// macOS. A port given by path still works.
func listPorts() ([]*PortDetails, error) {
	return nil, errors.New("finding a port by usb/VID:PID on macOS needs a cgo build; give the port's path")
}
