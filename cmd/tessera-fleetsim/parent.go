package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fleet is the parent's sum of its children's ticks. Its methods are safe
// for concurrent use: each child's reader calls apply.
type fleet struct {
	mu    sync.Mutex
	out   *json.Encoder // standard output: one JSON object a line
	n     int
	start time.Time

	online    []int  // per child
	firstSeen []bool // per agent: booted once
	first     int
	connectMS []int64 // each agent's first connect time
	lastFirst int64   // Unix ms of the last first connection
	sum       tick    // totals (Online and Connects unused)
	connects  int
	errors    map[string]int
	announced bool // the "connected" line is out

	mark      int64         // Unix ms of a mark; 0 when none is watched
	dropAt    map[int]int64 // agents whose connection ended after the mark: when it first did
	back      map[int]bool  // those of them connected again
	markTimes []int64       // when each of them connected again
	markFails int
}

// settle is how long after a mark the fleet is watched at least: the
// connections of a killed node end within it, so that "every dropped
// agent is back" is not said of the first few.
const settle = 5 * time.Second

func newFleet(out io.Writer, n, children int, start time.Time) *fleet {
	return &fleet{out: json.NewEncoder(out), n: n, start: start, online: make([]int, children),
		firstSeen: make([]bool, n), errors: map[string]int{}}
}

// apply adds child c's tick.
func (f *fleet) apply(c int, t tick) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.online[c] = t.Online
	f.sum.Fails += t.Fails
	f.sum.Beats += t.Beats
	f.sum.Meters += t.Meters
	f.sum.Tasks += t.Tasks
	f.sum.Done += t.Done
	f.sum.Lost += t.Lost
	f.connects += len(t.Connects)
	for k, v := range t.Errors {
		f.errors[k] += v
	}
	if f.mark != 0 {
		f.markFails += t.Fails
		for _, d := range t.Drops {
			if _, seen := f.dropAt[d.Agent]; !seen && d.At >= f.mark {
				f.dropAt[d.Agent] = d.At
			}
		}
	}
	for _, cn := range t.Connects {
		f.noteConnect(cn)
	}
	if f.first == f.n && !f.announced {
		f.announced = true
		f.emitLocked(f.connectedLocked())
	}
	if f.mark != 0 && len(f.dropAt) > 0 && len(f.markTimes) == len(f.dropAt) &&
		time.Now().UnixMilli()-f.mark >= settle.Milliseconds() {
		f.endMarkLocked()
	}
}

func (f *fleet) noteConnect(cn connect) {
	if cn.Agent < 0 || cn.Agent >= f.n {
		return
	}
	if !f.firstSeen[cn.Agent] {
		f.firstSeen[cn.Agent] = true
		f.first++
		f.connectMS = append(f.connectMS, max(cn.Since, 0))
		f.lastFirst = max(f.lastFirst, cn.At)
	}
	if f.mark == 0 || f.back[cn.Agent] {
		return
	}
	if at, dropped := f.dropAt[cn.Agent]; dropped && cn.At >= at {
		f.back[cn.Agent] = true
		f.markTimes = append(f.markTimes, cn.At)
	}
}

// connectedLocked is the "connected" line: how long until every agent had
// booted once, and the spread of their connect times.
func (f *fleet) connectedLocked() map[string]any {
	ms := append([]int64(nil), f.connectMS...)
	return map[string]any{
		"kind": "connected", "agents": f.n, "processes": len(f.online),
		"all_connected_s": float64(f.lastFirst-f.start.UnixMilli()) / 1000,
		"connect_ms": map[string]int64{"p50": percentile(ms, 50), "p90": percentile(ms, 90),
			"p99": percentile(ms, 99), "max": percentile(ms, 100)},
		"fails": f.sum.Fails, "errors": f.errors,
	}
}

// setMark starts watching the fleet come back from mark (Unix ms: the
// moment the hub, or one of its nodes, was killed); the "reconnect" line
// follows once every agent whose connection ended after it has connected
// again (and settle has passed), or after wait.
func (f *fleet) setMark(mark int64, wait time.Duration) {
	f.mu.Lock()
	f.mark, f.dropAt, f.back, f.markTimes, f.markFails = mark, map[int]int64{}, map[int]bool{}, nil, 0
	f.mu.Unlock()
	time.AfterFunc(wait, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.mark == mark {
			f.endMarkLocked()
		}
	})
}

func (f *fleet) endMarkLocked() {
	r := reconnects(len(f.dropAt), f.mark, f.markTimes)
	r.FailsAfter = f.markFails
	r.WaitedS = float64(time.Now().UnixMilli()-f.mark) / 1000
	f.mark = 0
	f.emitLocked(struct {
		Kind string `json:"kind"`
		reconnectFigures
	}{"reconnect", r})
}

// progress is the line printed every second.
func (f *fleet) progress() {
	f.mu.Lock()
	defer f.mu.Unlock()
	online := 0
	for _, o := range f.online {
		online += o
	}
	f.emitLocked(map[string]any{"kind": "progress", "t_s": time.Since(f.start).Round(time.Millisecond).Seconds(),
		"online": online, "connected_once": f.first, "connects": f.connects, "fails": f.sum.Fails,
		"beats": f.sum.Beats, "meters": f.sum.Meters, "tasks": f.sum.Tasks, "tasks_done": f.sum.Done, "lost": f.sum.Lost})
}

// final is the last line: the totals.
func (f *fleet) final() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emitLocked(map[string]any{"kind": "final", "agents": f.n, "connected_once": f.first, "connects": f.connects,
		"fails": f.sum.Fails, "beats": f.sum.Beats, "meters": f.sum.Meters, "tasks": f.sum.Tasks,
		"tasks_done": f.sum.Done, "lost": f.sum.Lost, "errors": f.errors})
}

func (f *fleet) emitLocked(v any) { _ = f.out.Encode(v) }

// parentPlan is how the parent splits and watches the fleet.
type parentPlan struct {
	agents, procs int
	childArgs     []string // the flags every child gets besides its share
	duration      time.Duration
	reconnectWait time.Duration
}

// runParent starts the children, each on its share of the agents, prints
// the fleet's figures, and ends them when ctx ends or duration passes.
func runParent(ctx context.Context, p parentPlan, stdin io.Reader, stdout, stderr io.Writer) error {
	if p.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.duration)
		defer cancel()
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("fleetsim: find this program to start its processes: %w", err)
	}
	f := newFleet(stdout, p.agents, p.procs, time.Now())
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var children []*child
	for c := range p.procs {
		first, count := share(p.agents, p.procs, c)
		args := append(append([]string(nil), p.childArgs...), "--child", fmt.Sprintf("%d:%d", first, count))
		ch, err := startChild(ctx, exec.Command(self, args...), c, count, f, stderr, &wg, cancel)
		if err != nil {
			cancel(err)
			break
		}
		children = append(children, ch)
	}
	go readCommands(stdin, f, children, p.reconnectWait)
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-ticker.C:
			f.progress()
		}
	}
	wg.Wait()
	f.final()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// share is child c's first agent and count when n agents are dealt to procs
// processes.
func share(n, procs, c int) (first, count int) {
	base, extra := n/procs, n%procs
	first = c*base + min(c, extra)
	count = base
	if c < extra {
		count++
	}
	return first, count
}

// child is one running child process.
type child struct {
	index, count int
	in           io.Closer     // its stdin: closing it stops the child
	shed         atomic.Bool   // stopped by a "shed" command: its end is not a failure
	done         chan struct{} // closed when it has ended
}

// startChild starts one child and a goroutine that feeds its ticks to f
// and, once ctx ends, closes its stdin (its signal to stop) and waits for
// it. A child that ends on its own ends the run (cancel).
func startChild(ctx context.Context, cmd *exec.Cmd, c, count int, f *fleet, stderr io.Writer, wg *sync.WaitGroup, cancel context.CancelCauseFunc) (*child, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("fleetsim: start process %d: %w", c, err)
	}
	ch := &child{index: c, count: count, in: in, done: make(chan struct{})}
	go func() { <-ctx.Done(); _ = in.Close() }()
	wg.Go(func() {
		defer close(ch.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			var t tick
			if json.Unmarshal(sc.Bytes(), &t) == nil {
				f.apply(c, t)
			}
		}
		err := cmd.Wait()
		if ch.shed.Load() {
			f.apply(c, tick{}) // none of its agents is online any more
			return
		}
		if ctx.Err() == nil {
			cancel(fmt.Errorf("fleetsim: process %d ended early: %v", c, err))
		}
	})
	return ch, nil
}

// shed stops the last children still running until at least n agents are
// stopped, waits for them to end, and prints a "shed" line: the fleet is
// smaller from then on (a benchmark makes room on the nodes that stay
// before it kills one).
func shed(f *fleet, children []*child, n int) {
	stopped, procs := 0, 0
	var ends []chan struct{}
	for i := len(children) - 1; i >= 0 && stopped < n; i-- {
		ch := children[i]
		if ch.shed.Swap(true) {
			continue
		}
		_ = ch.in.Close()
		stopped += ch.count
		procs++
		ends = append(ends, ch.done)
	}
	for _, e := range ends {
		<-e
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emitLocked(map[string]any{"kind": "shed", "agents": stopped, "processes": procs})
}

// readCommands reads commands from the parent's stdin: "mark UNIX-MS" (or
// "mark" for now) starts watching the fleet come back from that moment, as
// the benchmark does right before it kills the hub or a node; "shed N"
// stops at least N agents (shed).
func readCommands(stdin io.Reader, f *fleet, children []*child, wait time.Duration) {
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "mark":
			at := time.Now().UnixMilli()
			if len(fields) > 1 {
				if v, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
					at = v
				}
			}
			f.setMark(at, wait)
		case "shed":
			if len(fields) > 1 {
				if n, err := strconv.Atoi(fields[1]); err == nil && n > 0 {
					shed(f, children, n)
				}
			}
		}
	}
}
