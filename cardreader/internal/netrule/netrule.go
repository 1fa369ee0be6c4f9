package netrule

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// Parse splits "HOST:PORT[?allow=CIDR[,CIDR]]" and enforces the
// loopback-or-allowlist rule: without an allowlist, HOST must be a loopback
// address (or "localhost"). An empty allow means loopback peers only.
func Parse(s string) (hostport string, allow []netip.Prefix, err error) {
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
	if len(allow) == 0 && !IsLoopbackHost(host) {
		return "", nil, fmt.Errorf("host %q is not loopback: add ?allow=CIDR[,CIDR] to expose the reader to those networks only", host)
	}
	return hostport, allow, nil
}

// IsLoopbackHost reports whether host names only loopback addresses. Names
// other than "localhost" are not resolved: what they point to can change.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// Allowed reports whether the peer a may talk to the reader: a loopback
// address when allow is empty, else an address in allow.
func Allowed(allow []netip.Prefix, a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	if len(allow) == 0 {
		return ip.IsLoopback()
	}
	for _, p := range allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
