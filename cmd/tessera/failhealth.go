//go:build !tessera_failhealth

package main

// failHealth is true only in a test build (-tags tessera_failhealth): an
// agent whose panel cannot listen, so that its health check after an
// update fails (internal/e2e TestUpdateAgentEndToEnd).
const failHealth = false
