// Package firmware will own agent updates (signed A/B bundles with rollback),
// printer firmware pushes and USB provisioning bundles. It is empty until the
// issues that build those land; the folder holds the place in the layout.
package firmware
