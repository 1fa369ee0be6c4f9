// Command tessera-hub is Tessera's reference hub (the cloud side).
//
//	tessera-hub serve --listen HOST:PORT --data DIR [--admin-token-file FILE] [--open-enrollment]
//	                  [--card-registration=true] [--temporary-validity 24h] [--pin-min-length 4]
//	                  [--lockout-failures 5] [--lockout-window 5m]
//	tessera-hub version
//
// docs/hub-api.md describes its HTTP API.
package main
