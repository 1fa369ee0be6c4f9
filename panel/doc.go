// Package panel serves the agent's panel listener: the panel API (JSON over
// HTTP), the /api/v1/events websocket that pushes the session on every
// change, /healthz, and a minimal web page. It knows the session only
// through the Sessions interface. docs/panel-api.md documents the API.
package panel
