// Package config is the agent's configuration: one JSON file, overridden by
// command-line flags, with every default in one place and validation before
// anything starts. docs/config.md documents every key.
package config
