package pjl

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
)

// backChannel reads what the printer says while the job is sent and
// after, until the connection is closed. It keeps only a summary for the job, under a mutex, and wakes the
// waiter through a one-slot channel, so it never blocks on its consumer
// and keeps draining the socket: a printer whose status writes back up
// could stop reading the job.
type backChannel struct {
	conn   net.Conn
	name   string
	log    *slog.Logger
	notify chan struct{}

	mu sync.Mutex
	st channelState
}

type channelState struct {
	heard    bool     // the printer reported on this job (START, CANCELED or END)
	end      *message // USTATUS JOB END for this job
	canceled string   // RESULT of a USTATUS JOB CANCELED for this job
	devices  []DeviceStatus
	closed   bool  // the printer closed its side or the connection broke
	cleanEOF bool  // ... with an orderly close (FIN), not a reset
	readErr  error // why reading stopped, when not a clean close
}

func newBackChannel(conn net.Conn, name string, log *slog.Logger) *backChannel {
	return &backChannel{
		conn:   conn,
		name:   name,
		log:    log,
		notify: make(chan struct{}, 1),
	}
}

func (b *backChannel) run() {
	var sp splitter
	buf := make([]byte, 4<<10)
	for {
		n, err := b.conn.Read(buf)
		sp.feed(buf[:n], b.handle)
		if err != nil {
			b.mu.Lock()
			b.st.closed = true
			b.st.cleanEOF = errors.Is(err, io.EOF)
			if !b.st.cleanEOF {
				b.st.readErr = err
			}
			b.mu.Unlock()
			b.wake()
			return
		}
	}
}

func (b *backChannel) handle(raw []byte) {
	m, err := parseUstatus(raw)
	if err != nil {
		if !errors.Is(err, errNotUstatus) {
			b.log.Debug("unreadable printer message", "err", err)
		}
		return
	}
	b.mu.Lock()
	switch m.Kind {
	case "JOB":
		// Another job's messages may share the channel (a printer
		// finishing the previous job); an END without NAME can only be
		// ours, as the EOJ we sent named it.
		if m.HasName && !strings.EqualFold(m.Name, b.name) {
			b.mu.Unlock()
			b.log.Debug("status for another job", "event", m.Event, "name", m.Name)
			return
		}
		switch m.Event {
		case "START":
			b.st.heard = true
		case "CANCELED":
			b.st.heard = true
			b.st.canceled = m.Result
			if b.st.canceled == "" {
				b.st.canceled = "CANCELED"
			}
		case "END":
			b.st.heard = true
			if b.st.end == nil {
				mm := m
				b.st.end = &mm
			}
		}
		b.log.Debug("job status", "event", m.Event, "pages", m.Pages, "result", m.Result)
	case "DEVICE", "TIMED":
		if m.HasCode {
			if len(b.st.devices) == maxDevices {
				copy(b.st.devices, b.st.devices[1:])
				b.st.devices = b.st.devices[:maxDevices-1]
			}
			b.st.devices = append(b.st.devices, m.Device)
			b.log.Debug("device status", "code", m.Device.Code, "display", m.Device.Display, "offline", m.Device.Offline)
		}
	}
	b.mu.Unlock()
	b.wake()
}

func (b *backChannel) wake() {
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

// snapshot copies the state, so the caller can read it without the lock.
func (b *backChannel) snapshot() channelState {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.st
	st.devices = append([]DeviceStatus(nil), b.st.devices...)
	return st
}

// lastBlocking is the last device report if it blocks printing.
func (st channelState) lastBlocking() (DeviceStatus, bool) {
	if n := len(st.devices); n > 0 && st.devices[n-1].Blocking() {
		return st.devices[n-1], true
	}
	return DeviceStatus{}, false
}
