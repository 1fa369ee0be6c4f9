// Package cmd holds Tessera's programs, each a thin main that parses
// flags and calls into the packages below it:
//
//   - cmd/tessera: the agent at the printer (run, demo, printer status, card tools, version);
//   - cmd/tessera-hub: the reference hub, the cloud side (serve, version).
//   - cmd/tessera-fleetsim: a fleet of simulated agents (the real cloudlink) against a hub, for the fleet benchmark.
//   - cmd/tessera-sign: keys, certificates, revocation lists and update bundles (docs/updates.md).
//
// Nothing imports cmd; this file only says what the folder owns.
package cmd
