// Package testutil holds the helpers Tessera's tests share, so that no
// package keeps its own copy: WaitFor and WaitErr poll for a condition
// another goroutine or process brings about; DamagedReader is a document
// body that fails its check only at its end. To wait for time to pass, a
// test injects a clocktest.Clock (package clock/clocktest) and advances it
// instead of sleeping.
package testutil
