// Package loopback says whether a host name reaches this machine only.
//
// One rule for every place that decides on it (the hub's refusal of open
// enrollment and plain http off loopback, the agent's panel and hub
// warnings, the CUPS password warning): "localhost" (any case) or a
// loopback IP. An empty host and 0.0.0.0 listen on every interface, and
// any other name may resolve anywhere, so neither is loopback.
package loopback

import (
	"net"
	"strings"
)

// Host reports whether host (a name or an IP, without port or brackets)
// is loopback only.
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
