package hub

import (
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/version"
)

// versionRefused is the Boot refusal reason for an agent of version v
// when the hub accepts only Config.MinAgentVersion or later (semver
// order, build metadata ignored: a development build 0.0.0-dev sorts
// below every release); "" when v is accepted or no minimum is set. A
// version that does not parse is refused too: the hub cannot tell it is
// recent enough. A minimum that does not parse (tessera-hub serve checks
// it) refuses no one.
func (s *Server) versionRefused(v string) string {
	if s.cfg.MinAgentVersion == "" {
		return ""
	}
	min, err := version.Parse(s.cfg.MinAgentVersion)
	if err != nil {
		return ""
	}
	got, err := version.Parse(v)
	if err != nil || version.Compare(got, min) < 0 {
		return protocol.VersionUnsupportedReason(min.String())
	}
	return ""
}
