package tcplisten

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
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
// loopback-or-allowlist rule. An empty allow means loopback clients only.
func parseAddr(s string) (hostport string, allow []netip.Prefix, err error) {
	hostport, query, hasQuery := strings.Cut(s, "?")
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", nil, fmt.Errorf("address %q: %w", hostport, err)
	}
	if port == "" {
		return "", nil, fmt.Errorf("address %q: missing port", hostport)
	}
	if hasQuery {
		q, err := url.ParseQuery(query)
		if err != nil {
			return "", nil, fmt.Errorf("options %q: %w", query, err)
		}
		for k := range q {
			if k != "allow" {
				return "", nil, fmt.Errorf("unknown option %q (want allow=CIDR[,CIDR])", k)
			}
		}
		for _, v := range q["allow"] {
			for c := range strings.SplitSeq(v, ",") {
				p, err := netip.ParsePrefix(strings.TrimSpace(c))
				if err != nil {
					return "", nil, fmt.Errorf("allow: %w", err)
				}
				allow = append(allow, p.Masked())
			}
		}
		if len(allow) == 0 {
			return "", nil, errors.New("allow: empty allowlist")
		}
	}
	if len(allow) == 0 && !isLoopbackHost(host) {
		return "", nil, fmt.Errorf("host %q is not loopback: add ?allow=CIDR[,CIDR] to expose the reader to those networks only", host)
	}
	return hostport, allow, nil
}

// isLoopbackHost reports whether host names only loopback addresses. Names
// other than "localhost" are not resolved: what they point to can change.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
