// Package tcpclient is the network card reader in client mode: the agent
// connects to a reader that serves its reads over TCP, one line per read
// (the shape of the Elatec TCP Converter and RF IDeas Ethernet readers),
// and reconnects with a backoff whenever the connection drops.
//
// One reader is bound to one device. As with tcp-listen, the reader hands
// out logins: the address must be a loopback one unless the spec gives an
// allowlist of networks (?allow=CIDR), and the connected peer must be in it.
package tcpclient
