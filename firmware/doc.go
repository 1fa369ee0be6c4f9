// Package firmware verifies what may change the agent's own code: signed
// update bundles, the signing keys' certificates and the revocation list
// (docs/updates.md). Later parts of the firmware issue add installing to
// A/B slots, printer firmware and USB provisioning here.
//
// Trust has two levels, as in tailscale's clientupdate/distsign: root keys,
// kept offline and built into the agent, sign signing keys; signing keys
// sign bundles. A signing key is rotated by certifying a new one and
// revoked by a revocation list a root signs, with no new agent.
//
// Every signature is Ed25519 over a purpose string, a zero byte and the
// signed bytes (signedMessage), so that no signature made for one kind of
// document verifies as another's.
package firmware
