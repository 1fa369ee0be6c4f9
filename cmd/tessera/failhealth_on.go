//go:build tessera_failhealth

package main

// failHealth: this is a test build whose panel cannot listen (failhealth.go).
const failHealth = true
