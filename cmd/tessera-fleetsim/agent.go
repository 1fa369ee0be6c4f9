package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
)

// simVersion is the version the simulated agents give at Boot: a dev
// build, below every release, as a plain go build of the agent says.
const simVersion = "0.0.0-fleetsim"

// agentSpec is what one simulated agent is built from.
type agentSpec struct {
	index   int    // 0-based, across the whole fleet
	id      string // agent id at the hub
	hubURL  string
	nodes   []string // the hub's nodes, dialled in place of the URL's host (none: the URL's)
	source  net.IP   // local address every connection of this agent is made from
	tls     *tls.Config
	ackOnly bool // answer a task completed in its TaskAck, with no TaskStatus
	// minBackoff is the reconnect backoff's floor (0: cloudlink's, as the
	// agent has it): a trial of a wider first reconnect window.
	minBackoff time.Duration
}

// simAgent is one simulated agent: a real cloudlink.Link (Boot,
// heartbeats at the hub's interval, reconnects with the agent's backoff),
// a meter read after its first connection, and answers to tasks.
type simAgent struct {
	spec    agentSpec
	link    *cloudlink.Link
	rec     *recorder
	started time.Time // when Run began: the base of its connect time
	booted  atomic.Bool
	metered atomic.Bool
}

// newSimAgent builds the agent's link as the agent's run.go does, with the
// agent's default reconnect cap (config reconnect_max), so that the
// fleet's reconnections spread as a real fleet's do.
func newSimAgent(spec agentSpec, rec *recorder, logger *slog.Logger) (*simAgent, error) {
	a := &simAgent{spec: spec, rec: rec}
	dialer := &net.Dialer{
		LocalAddr: &net.TCPAddr{IP: spec.source},
		Timeout:   cloudlink.DefaultCallTimeout,
		KeepAlive: 30 * time.Second,
	}
	dial := dialer.DialContext
	if len(spec.nodes) > 0 {
		dial = newNodeDialer(dialer, spec.nodes, spec.index).DialContext
	}
	link, err := cloudlink.New(cloudlink.Config{
		HubURL:       spec.hubURL,
		AgentID:      spec.id,
		Version:      simVersion,
		Capabilities: []string{"tasks"},
		Printer:      a.printer,
		TLSConfig:    spec.tls,
		MinBackoff:   spec.minBackoff,
		MaxBackoff:   max(time.Duration(config.Default().ReconnectMax), spec.minBackoff),
		Logger:       logger,
		Handlers:     map[string]protocol.Handler{protocol.ActionTask: a.task},
		OnOnline:     a.online,
		OnChange:     a.change,
		OnServerTime: func(time.Time) { rec.serverTime() },
		Heartbeat:    a.heartbeat,
		Dial:         dial,
	})
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", spec.id, err)
	}
	a.link = link
	return a, nil
}

// run runs the link until ctx ends.
func (a *simAgent) run(ctx context.Context) {
	a.started = time.Now()
	_ = a.link.Run(ctx) // only errors when already running
}

func (a *simAgent) printer() protocol.Printer {
	return protocol.Printer{
		URI:       fmt.Sprintf("ipp://10.%d.%d.%d/ipp/print", a.spec.index>>16&255, a.spec.index>>8&255, a.spec.index&255),
		MakeModel: "HP LaserJet MFP M428fdw",
		Serial:    fmt.Sprintf("SIM%07d", a.spec.index),
	}
}

// change notes each accepted Boot: the connect time of the first one, and
// every one for the reconnection figures.
func (a *simAgent) change(online bool) {
	if !online {
		a.rec.offline(a.spec.index, time.Now())
		return
	}
	first := !a.booted.Swap(true)
	since := time.Duration(-1)
	if first {
		since = time.Since(a.started)
	}
	a.rec.connected(a.spec.index, time.Now(), since)
}

// online sends a meter read once, after the first accepted Boot: the
// telemetry event a real agent sends from its first SNMP reading.
func (a *simAgent) online(ctx context.Context) {
	if a.metered.Swap(true) {
		return
	}
	ev := snmp.Telemetry(a.reading(), time.Now().UTC())
	req := protocol.PrinterEventRequest{Kind: ev.Kind, At: ev.At, Status: ev.Status, Reasons: ev.Reasons, Data: ev.Data}
	if err := a.link.Call(ctx, protocol.ActionPrinterEvent, req, nil); err != nil {
		a.metered.Store(false) // the next connection tries again, as the outbox would
		return
	}
	a.rec.metered()
}

// reading is a plausible SNMP reading of a mid-size office printer.
func (a *simAgent) reading() *snmp.Reading {
	pages := uint64(10_000 + a.spec.index*37%90_000)
	percent := 62
	return &snmp.Reading{
		Vendor: "HP", Model: "HP LaserJet MFP M428fdw", Serial: fmt.Sprintf("SIM%07d", a.spec.index),
		Status:   snmp.Status{State: snmp.StateReady, CanPrint: true},
		Counters: snmp.Counters{"total": pages, "mono": pages, "copies": pages / 5, "scans": pages / 8},
		Supplies: []snmp.Supply{{Index: 1, Description: "Black Cartridge HP 58A", Class: "consumed", Type: "toner",
			Colour: "black", Level: 62, Max: 100, Percent: &percent}},
	}
}

// heartbeat fills each Heartbeat with a sync status, as the agent's outbox
// does: nothing pending, last success a minute ago.
func (a *simAgent) heartbeat(context.Context) protocol.HeartbeatRequest {
	last := time.Now().Add(-time.Minute).UTC()
	return protocol.HeartbeatRequest{Sync: &protocol.SyncStatus{LastSuccess: &last}}
}

// task answers the hub's Task: in progress at once, then completed with a
// result through TaskStatus (a real agent's path, minus its outbox), or,
// with ackOnly, completed in the acknowledgement itself.
func (a *simAgent) task(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.TaskRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	a.rec.task()
	if a.spec.ackOnly {
		a.rec.taskDone() // the hub stores the ack's end once this answer reaches it
		return protocol.TaskAck{State: protocol.TaskCompleted}, nil
	}
	go a.finish(req)
	return protocol.TaskAck{State: protocol.TaskInProgress}, nil
}

// finish reports the task's end; a failed report is counted, not retried
// (the simulator has no outbox).
func (a *simAgent) finish(req protocol.TaskRequest) {
	st := protocol.TaskStatusRequest{ID: req.ID, State: protocol.TaskCompleted, At: time.Now().UTC()}
	switch req.Type {
	case protocol.TaskTestConnection:
		st.Result, _ = json.Marshal(protocol.TestConnectionResult{Hub: protocol.ProbeResult{OK: true, MS: 1},
			SNMP: protocol.ProbeResult{OK: true, MS: 3}, IPP: protocol.ProbeResult{OK: true, MS: 5}, Readers: []protocol.ReaderProbe{}})
	case protocol.TaskReadMeters:
		st.Result, _ = json.Marshal(snmp.Telemetry(a.reading(), st.At).Data)
	case protocol.TaskNotify, protocol.TaskSyncUsers:
		st.Result = json.RawMessage(`{}`)
	default:
		st.State, st.Error = protocol.TaskFailed, "not-supported: the fleet simulator does not do "+req.Type
	}
	// This may reach the hub before the ack's in-progress is stored: the
	// hub takes the end either way (only forward).
	ctx, cancel := context.WithTimeout(context.Background(), cloudlink.DefaultCallTimeout)
	defer cancel()
	if err := a.link.Call(ctx, protocol.ActionTaskStatus, st, nil); err != nil {
		a.rec.taskLost()
		return
	}
	a.rec.taskDone()
}
