// Package session is the one session at the printer: who is logged in, the
// jobs they see, the notice the panel shows, the cloud and printer state.
// It turns card reads into logins, releases into engine calls, and publishes
// every change to the panel's subscribers.
package session
