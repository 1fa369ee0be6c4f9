// Command tessera-hub is Tessera's reference hub (the cloud side).
//
//	tessera-hub serve --listen HOST:PORT --data DIR [--admin-token-file FILE] [--open-enrollment]
//	                  [--tls-cert FILE --tls-key FILE | --behind-tls-proxy]
//	                  [--ca-cert FILE --ca-key FILE]
//	                  [--max-pending 1500] [--enroll-failures 10] [--enroll-window 10m]
//	                  [--read-header-timeout 10s] [--read-timeout 1m] [--write-timeout 1m]
//	                  [--idle-timeout 2m] [--max-conns 20000] [--listen-backlog 512]
//	                  [--card-registration=true] [--temporary-validity 24h] [--pin-min-length 4]
//	                  [--lockout-failures 5] [--lockout-window 5m] [--login-ttl 1h]
//	                  [--logout-grace 5m] [--ipp-max-jobs 50] [--ipp-max-bytes 1GiB]
//	tessera-hub agent add ID --data DIR
//	tessera-hub agent new-token ID --data DIR
//	tessera-hub admin add --data DIR --username U --role administrator|reports  (password on stdin)
//	tessera-hub version
//
// docs/hub-api.md describes its flags and its HTTP API.
package main
