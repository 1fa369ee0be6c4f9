// Package ippserver holds the pieces every IPP server of Tessera shares
// (printer/virtual, the demo printer, and localspool, the agent's own
// queue): reading a request off HTTP within bounds, the RFC 8011 checks
// every request passes, the value and requested-attributes helpers, and
// building and writing the response.
//
// It knows nothing of jobs or queues: each server keeps its own operations
// and attributes, and reports refusals as *Error, which Answer turns into
// the response status.
package ippserver
