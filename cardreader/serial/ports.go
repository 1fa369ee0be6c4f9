//go:build !darwin || cgo

package serial

import "go.bug.st/serial/enumerator"

// listPorts lists the ports through go.bug.st/serial/enumerator (on macOS
// it needs cgo, for IOKit: ports_darwin_nocgo.go).
func listPorts() ([]*PortDetails, error) {
	ports, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return nil, err
	}
	out := make([]*PortDetails, 0, len(ports))
	for _, p := range ports {
		out = append(out, &PortDetails{Name: p.Name, IsUSB: p.IsUSB, VID: p.VID, PID: p.PID})
	}
	return out, nil
}
