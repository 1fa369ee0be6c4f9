// Package agent wires a running Tessera agent together: the store, the card
// readers, the cloud link, the session, the release engine and the panel,
// and owns their start-up order and their shutdown.
package agent
