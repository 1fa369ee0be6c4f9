// Package testenv locates and starts the real components that integration
// tests run against (ippeveprinter, and the D-Bus and avahi daemons it
// needs) and builds the project's binaries for end-to-end tests.
//
// A missing component skips the test on a developer machine and fails it
// in CI (CI=true), where everything must be installed: a green CI run then
// means every integration test really ran.
package testenv
