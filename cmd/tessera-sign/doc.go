// Command tessera-sign makes and checks what agents trust for updates
// (docs/updates.md): keys, signing-key certificates, revocation lists and
// bundles. A root key's private half belongs on a machine that is kept
// offline; signing keys sign releases.
//
//	tessera-sign keygen --name NAME --out DIR
//	tessera-sign sign-key --root ROOT.key --key NAME.pub --out NAME.cert
//	tessera-sign revoke --root ROOT.key --serial N [--key-id ID]... --out revocations.json
//	tessera-sign bundle --key SIGNING.key --cert SIGNING.cert --version V --binary FILE --arch ARCH
//	    [--os OS] [--min-version V] [--expires RFC3339] [--notes TEXT]
//	    [--revocations FILE [--roots DIR]] --out BUNDLE.tar
//	tessera-sign verify --roots DIR [--revocations FILE] [--running V] [--arch ARCH] BUNDLE.tar
package main
