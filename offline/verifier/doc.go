// Package verifier computes the offline verifiers of cards and PINs: a
// deterministic, deliberately slow hash (argon2id) of a card number or a
// PIN under the site's offline key. The hub computes them whenever it sees
// the secret in clear and gives them to its agents with the credential
// cache; an agent without its hub computes the one of the card or PIN in
// front of it and looks it up, one slow hash per login and then an index
// lookup, so a PIN alone finds its user without a scan.
//
// A verifier is not a secret against whoever holds the device: the agent
// keeps the offline key to compute them. Its cost per guess (Params) is
// what stands between a stolen device and its users' short PINs, which is
// little for a 4-digit PIN and a great deal for a 7-byte card UID
// (docs/config.md, "What the agent keeps at rest").
package verifier
