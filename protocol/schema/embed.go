// Package schema is the message catalogue of the agent ↔ hub protocol as
// data: a JSON Schema (draft 2020-12) per message, both directions, next
// to the code (docs/protocol.md, "The catalogue").
//
//   - ACTION.request.json and ACTION.response.json for every action of
//     package protocol (the payload of its CALL and of its CALLRESULT);
//   - frame.json, the CALL, CALLRESULT and CALLERROR envelope and the
//     error codes;
//   - task.TYPE.payload.json and task.TYPE.result.json for every task
//     type (the Task request refers to the payload's);
//   - defs.json, the types several messages share.
//
// References between files are relative ("defs.json#/$defs/Job"), so the
// files resolve wherever they are served or copied together. The package
// holds data only: validating against it is for tests and tools
// (protocol/schema/schematest), never a gate in the agent or the hub.
package schema

import "embed"

// FS holds every schema file of the catalogue, at its root.
//
//go:embed *.json
var FS embed.FS
