module github.com/tessera-print/tessera

go 1.26.8

require (
	github.com/OpenPrinting/goipp v1.2.0
	github.com/gorilla/websocket v1.5.3
	github.com/gosnmp/gosnmp v1.47.0
	github.com/mattn/go-sqlite3 v1.14.28
	github.com/phin1x/go-ipp v1.7.0
	go.bug.st/serial v1.6.4
	golang.org/x/crypto v0.58.0
	golang.org/x/sys v0.49.0
	periph.io/x/conn/v3 v3.7.2
	periph.io/x/host/v3 v3.8.5
)

require (
	filippo.io/age v1.3.1
	filippo.io/hpke v0.4.0 // indirect
	github.com/creack/goselect v0.1.2 // indirect
)
