module github.com/tessera-print/tessera

go 1.26.8

require (
	github.com/OpenPrinting/goipp v1.2.0
	github.com/gorilla/websocket v1.5.3
	github.com/mattn/go-sqlite3 v1.14.28
	github.com/phin1x/go-ipp v1.7.0
	golang.org/x/crypto v0.58.0
)

require (
	github.com/gosnmp/gosnmp v1.47.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
