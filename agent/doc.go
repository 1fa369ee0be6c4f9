// Package agent wires a running Tessera agent together: the store, the card
// readers, the cloud link, the session, the release engine and the panel,
// and owns their start-up order and their shutdown.
//
// An agent is built, then run, as tailscale builds a tsd.System apart from
// running it. Build takes a config and returns a System — or every problem
// of the config and of the files it names at once — having opened nothing:
// no directory, database, socket or goroutine, so a new config can be built
// beside a running agent and swapped in only if it builds. System.Run opens
// the store, wires the parts that need it, starts them and, when its
// context ends, stops them in order (system.go builds, run.go runs).
package agent
