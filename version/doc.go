// Package version gives Tessera's builds versions that compare.
//
// A release is a semantic-versioning git tag (v0.2.0); its build is stamped
// with the tag without the v (0.2.0). Any other build is 0.0.0-dev+HASH
// (".dirty" appended to the build metadata when the tree had changes), which
// sorts below every release: 0.0.0-dev is a prerelease of 0.0.0, and build
// metadata never changes the order (semver 2.0, items 10 and 11). The update
// and provisioning work refuses a downgrade by Compare.
//
// The Makefile stamps the version and the build time with -ldflags into each
// program's main; Current and BuildTime fall back to what the Go toolchain
// recorded (the VCS revision and commit time) for a plain `go build`.
package version
