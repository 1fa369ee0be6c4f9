package tcplisten

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/tessera-print/tessera/cardreader/internal/netrule"
)

// Scheme is the prefix of a network reader's spec.
const Scheme = "tcp-listen://"

// ParseSpec checks a reader spec "tcp-listen://HOST:PORT[?allow=CIDR[,CIDR]]"
// and returns the address to give Listen: "HOST:PORT", followed by
// "?allow=CIDR,…" when the spec has an allowlist. A host that is not a
// loopback address is refused without an allowlist, so that a reader is
// never exposed to the network by accident.
func ParseSpec(spec string) (addr string, err error) {
	rest, ok := strings.CutPrefix(spec, Scheme)
	if !ok {
		return "", fmt.Errorf("tcplisten: spec %q: want %sHOST:PORT", spec, Scheme)
	}
	if _, _, err := parseAddr(rest); err != nil {
		return "", fmt.Errorf("tcplisten: spec %q: %w", spec, err)
	}
	return rest, nil
}

// parseAddr splits "HOST:PORT[?allow=CIDR[,CIDR]]" and enforces the
// loopback-or-allowlist rule shared by the network readers.
func parseAddr(s string) (hostport string, allow []netip.Prefix, err error) {
	return netrule.Parse(s)
}
