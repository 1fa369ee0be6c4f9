// Package e2e holds the end-to-end tests: the real tessera and tessera-hub
// binaries, a real printer (ippeveprinter) and real sockets, driven the way
// a person and an administrator would drive them.
package e2e
