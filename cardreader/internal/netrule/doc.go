// Package netrule is the rule every network card reader follows: a reader
// hands out logins, so it talks to loopback peers only unless the spec
// names the networks it may talk to (?allow=CIDR[,CIDR]).
package netrule
