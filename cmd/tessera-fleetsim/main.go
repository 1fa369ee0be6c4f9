// Command tessera-fleetsim simulates a fleet of agents against a real hub,
// to measure what the hub does at scale (issue 12, "Fleet scale,
// measured"; docs/benchmarks.md, Fleet).
//
//	tessera-fleetsim --hub URL [--agents 100] [--ca FILE] [--procs 0] [--sources 0]
//	                 [--prefix sim-XXXX-] [--ramp 0s] [--duration 0s] [--ack-only]
//	                 [--reconnect-wait 5m] [--min-backoff 0s] [--nodes HOST:PORT,...]
//
// Each simulated agent is the real cloudlink package (cloudlink.New and
// Run, as the agent builds it, with the agent's default reconnect cap): it
// boots (open enrollment hands it a device token, kept in memory), beats
// at the hub's interval with a sync status, sends one meter read (the
// telemetry printer event) after its first Boot, and answers tasks
// (in-progress at once, then a TaskStatus completed with a result; with
// --ack-only, completed in the acknowledgement).
//
// One process holds at most 20,000 file descriptors on the machines this
// runs on, so the simulator starts --procs copies of itself (default one
// per 5,000 agents), each running its share, and binds agent i to the
// source address 127.0.0.(2 + i mod --sources) (default one address per
// 50 agents, at most 250): no address runs out of ephemeral ports, and
// none looks like one host enrolling thousands (the hub rates Boots per
// host under open enrollment). Go raises each
// process's soft descriptor limit to the hard one at start.
//
// With --nodes, the hub is several nodes and every connection goes to one
// of them, as a name with several addresses would resolve (DNS round
// robin): agent i starts at node i mod len(nodes), stays on the node that
// answered last, and tries the next ones in turn when that one refuses.
//
// It prints one JSON object a line on standard output: "progress" every
// second; "connected" once every agent has booted once (all_connected_s
// from the start, connect_ms percentiles of each agent's first dial to
// its accepted Boot, fails and their kinds); "reconnect" after a line
// "mark [UNIX-MS]" on standard input (the moment the hub, or one node, was
// killed): of the agents whose connection ended after the mark, seconds
// until 95 % and all of them had connected again, and the largest share
// of them that came back within any one second; "shed" after a line "shed
// N" (the last processes, holding at least N agents, stopped: a smaller
// fleet from then on); "final" at the end (a signal, or --duration).
package main

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// perProcess and perSource are the default shares: agents per process
// and per source address. Under open enrollment the hub rates Boots per
// remote host (burst 400, then 100/s): 50 agents an address keep a
// fleet's first connection under it, as agents behind their own
// addresses would be.
const (
	perProcess = 5000
	perSource  = 50
	maxSources = 250 // 127.0.0.2 to 127.0.0.251
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tessera-fleetsim:", err)
		os.Exit(2)
	}
}

// options are the command's flags.
type options struct {
	hub, ca, prefix, child  string
	nodes                   string
	agents, procs, sources  int
	ramp, duration, recWait time.Duration
	minBackoff              time.Duration
	ackOnly                 bool
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("tessera-fleetsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.StringVar(&o.hub, "hub", "", "the hub's base URL, http:// or https:// (required)")
	fs.StringVar(&o.ca, "ca", "", "PEM file of the CA that signed the hub's certificate (https; default: the system's roots)")
	fs.StringVar(&o.prefix, "prefix", "", "agent id prefix (default sim-RANDOM-, so runs against one hub do not collide)")
	fs.IntVar(&o.agents, "agents", 100, "simulated agents")
	fs.IntVar(&o.procs, "procs", 0, "processes to spread them over (0: one per 5,000 agents)")
	fs.IntVar(&o.sources, "sources", 0, "source addresses 127.0.0.2 onwards (0: one per 50 agents, at most 250)")
	fs.DurationVar(&o.ramp, "ramp", 0, "spread the agents' first dials evenly over this long (0: all at once)")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: at SIGINT or SIGTERM)")
	fs.DurationVar(&o.recWait, "reconnect-wait", 5*time.Minute, "after a mark, report the reconnections once all agents are back or after this long")
	fs.DurationVar(&o.minBackoff, "min-backoff", 0, "reconnect backoff floor (0: the agent's, 1 s); a trial of a wider reconnect window, not what agents do")
	fs.BoolVar(&o.ackOnly, "ack-only", false, "answer tasks completed in their acknowledgement (no TaskStatus)")
	fs.StringVar(&o.nodes, "nodes", "", "the hub's nodes, host:port comma separated: connections go to them, not to --hub's host (DNS round robin)")
	fs.StringVar(&o.child, "child", "", "internal: FIRST:COUNT, the share a child process runs")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tessera-fleetsim --hub URL [flags]")
		fs.VisitAll(func(fl *flag.Flag) {
			if fl.Name != "child" {
				fmt.Fprintf(stderr, "  --%s\t%s (default %q)\n", fl.Name, fl.Usage, fl.DefValue)
			}
		})
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o, o.check()
}

// check refuses what cannot run, and fills the defaults.
func (o *options) check() error {
	switch {
	case o.hub == "":
		return errors.New("--hub is required")
	case o.agents < 1:
		return errors.New("--agents must be at least 1")
	case o.procs < 0 || o.sources < 0:
		return errors.New("--procs and --sources cannot be negative")
	case o.sources > maxSources:
		return fmt.Errorf("--sources %d: at most %d", o.sources, maxSources)
	case o.ramp < 0 || o.duration < 0 || o.minBackoff < 0 || o.recWait <= 0:
		return errors.New("--ramp, --duration and --min-backoff cannot be negative, --reconnect-wait must be positive")
	}
	if _, err := parseNodes(o.nodes); err != nil {
		return err
	}
	if o.procs == 0 {
		o.procs = (o.agents + perProcess - 1) / perProcess
	}
	o.procs = min(o.procs, o.agents)
	if o.sources == 0 {
		o.sources = min((o.agents+perSource-1)/perSource, maxSources)
	}
	if o.prefix == "" {
		var b [3]byte
		_, _ = crand.Read(b[:])
		o.prefix = "sim-" + hex.EncodeToString(b[:]) + "-"
	}
	return nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if o.child != "" {
		first, count, err := childShare(o.child, o.agents)
		if err != nil {
			return err
		}
		nodes, _ := parseNodes(o.nodes) // checked by parse
		return runChild(ctx, childPlan{first: first, count: count, agents: o.agents, sources: o.sources,
			prefix: o.prefix, hubURL: o.hub, nodes: nodes, ackOnly: o.ackOnly, ramp: o.ramp, minBackoff: o.minBackoff}, stdin, stdout, o.ca)
	}
	childArgs := []string{"--hub", o.hub, "--agents", strconv.Itoa(o.agents), "--sources", strconv.Itoa(o.sources),
		"--prefix", o.prefix, "--ramp", o.ramp.String(), "--ca", o.ca, "--ack-only=" + strconv.FormatBool(o.ackOnly),
		"--min-backoff", o.minBackoff.String(), "--nodes", o.nodes}
	return runParent(ctx, parentPlan{agents: o.agents, procs: o.procs, childArgs: childArgs,
		duration: o.duration, reconnectWait: o.recWait}, stdin, stdout, stderr)
}

// childShare parses --child FIRST:COUNT.
func childShare(v string, agents int) (first, count int, err error) {
	a, b, ok := strings.Cut(v, ":")
	first, err1 := strconv.Atoi(a)
	count, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || first < 0 || count < 1 || first+count > agents {
		return 0, 0, fmt.Errorf("--child %q: want FIRST:COUNT within --agents", v)
	}
	return first, count, nil
}

// loadRoots is the TLS config trusting the CA in file ("": nil, the
// system's roots).
func loadRoots(file string) (*tls.Config, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca %s: no PEM certificate in it", file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
