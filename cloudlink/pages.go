package cloudlink

import (
	"net/url"
	"strings"
)

// The hub's web pages (the claim page, the QR sign-in page) are what a
// phone opens from a QR code on the panel: their addresses are the hub URL
// the agent was given, in its http or https form, so a hub under a path
// prefix keeps it.

// PageBase is the hub's base address for pages, without a trailing
// slash, from a hub URL as Config.HubURL takes it.
func PageBase(hubURL string) (string, error) {
	base, _, err := parseHubURL(hubURL)
	if err != nil {
		return "", err
	}
	return pageBase(*base), nil
}

// PageURL is the address of one of the hub's pages (path from its root,
// e.g. protocol.QRLoginPath+code).
func (l *Link) PageURL(path string) string {
	return pageBase(*l.base) + "/" + strings.TrimPrefix(path, "/")
}

func pageBase(u url.URL) string {
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u.String()
}
