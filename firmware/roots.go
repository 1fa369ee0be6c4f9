package firmware

import (
	_ "embed"
	"encoding/base64"
	"fmt"
)

// projectRoots are the Tessera project's root public keys; their private
// halves are kept offline by the maintainers, never in the repository.
//
//go:embed roots.pem
var projectRoots []byte

// Roots are the root keys a build trusts: the project's, or an
// organisation's own when the build was given them (`ROOT_KEYS=FILE make
// build` stamps the file, base64, into the agent as override).
func Roots(override string) ([]PublicKey, error) {
	if override == "" {
		return ParsePublicKeys(projectRoots)
	}
	data, err := base64.StdEncoding.DecodeString(override)
	if err != nil {
		return nil, fmt.Errorf("root keys built in: %w", err)
	}
	keys, err := ParsePublicKeys(data)
	if err != nil {
		return nil, fmt.Errorf("root keys built in: %w", err)
	}
	return keys, nil
}
