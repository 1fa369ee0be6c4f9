package cloudlink

import "strings"

// PageURL is the address of one of the hub's web pages (path from its
// root, e.g. protocol.QRLoginPath+code): what a QR code on the panel
// holds, for a phone to open. It is the hub URL the agent was given, in
// its http or https form, so a hub under a path prefix keeps it.
func (l *Link) PageURL(path string) string {
	u := *l.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u.String()
}
