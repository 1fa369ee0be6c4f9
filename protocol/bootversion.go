package protocol

import "strings"

// BootReasonVersionUnsupported starts the Boot refusal reason of an agent
// older than the hub accepts (tessera-hub serve --min-agent-version):
// "version-unsupported: needs 1.4.0 or later". The agent logs it, shows it
// on the panel and retries with backoff (the hub's flag may change, the
// agent may be updated).
const BootReasonVersionUnsupported = "version-unsupported"

// VersionUnsupportedReason is the refusal reason naming the oldest version
// the hub accepts.
func VersionUnsupportedReason(min string) string {
	return BootReasonVersionUnsupported + ": needs " + min + " or later"
}

// IsVersionUnsupported says whether a Boot refusal reason is
// version-unsupported.
func IsVersionUnsupported(reason string) bool {
	return reason == BootReasonVersionUnsupported || strings.HasPrefix(reason, BootReasonVersionUnsupported+":")
}
