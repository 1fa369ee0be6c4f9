// Package cross owns the cross-compilation of the agent for linux/arm
// (ARMv7 hard-float), linux/arm64 and linux/amd64 with cgo, and the tests
// that run the ARM builds under qemu-user. `make cross` builds the targets.
package cross
