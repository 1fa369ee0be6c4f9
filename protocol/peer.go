package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/internal/jsonerr"
)

// Message type ids of the three frames, as in OCPP-J.
const (
	typeCall       = 2
	typeCallResult = 3
	typeCallError  = 4
)

// MaxMessageSize is the default bound of one message (Peer.MaxMessage).
const MaxMessageSize = 1 << 20

// discardLimit bounds what a peer reads of one oversized message to throw
// it away: beyond, the connection is closed (a peer that streams forever).
const discardLimit = 64 << 20

// Error codes of a CALLERROR.
const (
	CodeNotImplemented     = "NotImplemented"
	CodeProtocolError      = "ProtocolError"
	CodeFormationViolation = "FormationViolation"
	CodeSecurityError      = "SecurityError"
	CodeInternalError      = "InternalError"
	CodeGenericError       = "GenericError"
)

// Error is a CALLERROR received from, or to be sent to, the other side.
type Error struct {
	Code        string         `json:"code"`
	Description string         `json:"description"`
	Details     map[string]any `json:"details,omitempty"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Description)
}

// Codes carried in a GenericError's details.code.
const (
	// DetailNotFound: the job does not exist (any more) or is not the
	// user's. Permanent.
	DetailNotFound = "not-found"
	// DetailNotReleasable: the job is not in a state that can be fetched,
	// or deleted (a printed or deleted job; details.state says which).
	// Permanent for this call.
	DetailNotReleasable = "not-releasable"
	// DetailStaleClaim: a JobStatus about a claim that is no longer the
	// job's current one. Permanent.
	DetailStaleClaim = "stale-claim"
	// DetailClaimed: ClaimJob of a job another agent holds. Permanent for
	// this call.
	DetailClaimed = "claimed"
	// DetailRecordConflict: an accounting record whose id the hub holds
	// with other content (in AccountingResponse.Refused). Permanent for
	// that id.
	DetailRecordConflict = "record-conflict"
	// DetailTooManyCards: RegisterCard for a user at the card limit.
	DetailTooManyCards = "too-many-cards"
	// DetailClaimedElsewhere: an accounting record for a hub job whose
	// claim is another agent's (in AccountingResponse.Refused): no agent
	// reports for a job it did not print. Permanent for that id.
	DetailClaimedElsewhere = "claimed-elsewhere"
	// DetailLoginRequired: ListJobs, FetchJob or DeleteJob without a
	// login_token that this agent holds for this user and that is live
	// (missing, unknown, another agent's or user's, ended by Logout,
	// expired; FetchJob takes an ended one until it expires). Permanent:
	// the person logs in again.
	DetailLoginRequired = "login-required"
)

// Permanent reports whether the other side refused the call for good:
// sending the same call again cannot succeed. Only these are permanent: a
// FormationViolation, a NotImplemented, and a GenericError whose
// details.code is one of the Detail* codes above. Everything else
// (InternalError, SecurityError, ProtocolError, a GenericError without a
// known code: a busy database, a full disk, a hub shutting down) is
// temporary: retry with backoff.
func (e *Error) Permanent() bool {
	switch e.Code {
	case CodeFormationViolation, CodeNotImplemented:
		return true
	case CodeGenericError:
		code, _ := e.Details["code"].(string)
		switch code {
		case DetailNotFound, DetailNotReleasable, DetailStaleClaim, DetailClaimed,
			DetailRecordConflict, DetailTooManyCards, DetailClaimedElsewhere, DetailLoginRequired:
			return true
		}
	}
	return false
}

// IsPermanent reports whether err carries a permanent *Error (see
// Error.Permanent). A transport error, a closed connection or a timeout is
// never permanent.
func IsPermanent(err error) bool {
	var perr *Error
	return errors.As(err, &perr) && perr.Permanent()
}

// ErrClosed is returned by Call once the connection is gone.
var ErrClosed = errors.New("protocol: connection closed")

// Handler answers one CALL. A returned *Error travels as is; any other error
// becomes an InternalError whose description is the error text.
type Handler func(ctx context.Context, payload json.RawMessage) (any, error)

// Peer is one end of a connection. Either end may call the other; calls and
// handlers run concurrently.
type Peer struct {
	ws     *websocket.Conn
	logger *slog.Logger

	// IdleTimeout closes the connection when nothing arrives for this long
	// (zero: never). Set it before Run.
	IdleTimeout time.Duration
	// MaxMessage bounds one message (zero: MaxMessageSize). A longer one
	// is read and thrown away: a CALL whose id can be read from its start
	// is answered with a FormationViolation, anything else is dropped,
	// and the connection stays. Set it before Run.
	MaxMessage int64
	// MaxInFlight bounds the other side's CALLs being handled at once
	// (zero: no bound). A CALL beyond it is answered at once with a
	// temporary InternalError instead of waiting to be read, so the results
	// of this side's own calls keep flowing. Set it before Run.
	MaxInFlight int
	// Lookup finds the handler of an action that Handle did not register
	// (nil: none; unset: no more actions). A hub holding thousands of idle
	// connections builds a handler when its CALL comes instead of keeping
	// a set of them per connection. Set it before Run.
	Lookup func(action string) Handler

	handlers map[string]Handler

	writeMu sync.Mutex

	mu      sync.Mutex
	nextID  uint64
	pending map[string]chan frame
	running int // calls of the other side being handled
	closed  bool
	done    chan struct{}
	// pings wait for their pongs, by payload (Ping).
	nextPing uint64
	pings    map[string]chan struct{}
}

type frame struct {
	result json.RawMessage
	err    *Error
}

// NewPeer wraps an established websocket connection.
func NewPeer(ws *websocket.Conn, logger *slog.Logger) *Peer {
	ws.SetReadLimit(discardLimit)
	// The maps are made when first written: an idle connection of a hub
	// holding 15,000 needs none of them.
	p := &Peer{ws: ws, logger: logger, done: make(chan struct{})}
	ws.SetPongHandler(p.pong)
	return p
}

// Ping writes a websocket ping and waits for its pong, which the other
// side's reader sends (gorilla/websocket answers pings while it reads): an
// answer proves the connection is alive end to end, where a half-open one
// (the other host gone without a word) never answers. It fails with ctx's
// error when ctx ends first, and needs Run reading meanwhile.
func (p *Peer) Ping(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.nextPing++
	data := "ping-" + strconv.FormatUint(p.nextPing, 10)
	ch := make(chan struct{})
	if p.pings == nil {
		p.pings = make(map[string]chan struct{})
	}
	p.pings[data] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.pings, data)
		p.mu.Unlock()
	}()
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	// WriteControl may run beside the other writes (gorilla/websocket).
	if err := p.ws.WriteControl(websocket.PingMessage, []byte(data), deadline); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	select {
	case <-ch:
		return nil
	case <-p.done:
		return fmt.Errorf("ping: %w", ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("ping: %w", ctx.Err())
	}
}

// pong ends the Ping waiting for this payload; other pongs (unsolicited,
// or of a Ping given up) are ignored.
func (p *Peer) pong(data string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch, ok := p.pings[data]; ok {
		close(ch)
		delete(p.pings, data)
	}
	return nil
}

// Handle registers the handler of an action. Call it before Run.
func (p *Peer) Handle(action string, h Handler) {
	if p.handlers == nil {
		p.handlers = make(map[string]Handler)
	}
	p.handlers[action] = h
}

func (p *Peer) handler(action string) Handler {
	if h, ok := p.handlers[action]; ok {
		return h
	}
	if p.Lookup != nil {
		return p.Lookup(action)
	}
	return nil
}

// Done is closed when the connection is gone.
func (p *Peer) Done() <-chan struct{} { return p.done }

// Close closes the connection; Run returns.
func (p *Peer) Close() error {
	p.shutdown()
	return p.ws.Close()
}

func (p *Peer) shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	close(p.done)
	for id, ch := range p.pending {
		close(ch)
		delete(p.pending, id)
	}
}

// Run reads frames until the connection fails or ctx ends, dispatching calls
// to handlers and results to waiting callers. It always closes the connection.
func (p *Peer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Closes the connection when ctx ends, to unblock the read below. A
	// callback rather than a goroutine waiting on it: a hub holds one Peer
	// per agent, and 15,000 idle goroutines' stacks are memory it needs.
	stop := context.AfterFunc(ctx, func() {
		select {
		case <-p.done:
			return // closed already
		default:
		}
		p.writeMu.Lock()
		_ = p.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		p.writeMu.Unlock()
		_ = p.ws.Close()
	})
	defer stop()
	var wg sync.WaitGroup
	defer func() {
		cancel()
		_ = p.Close()
		wg.Wait()
	}()
	for {
		if p.IdleTimeout > 0 {
			_ = p.ws.SetReadDeadline(time.Now().Add(p.IdleTimeout))
		}
		data, tooBig, err := p.readFrame()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read frame: %w", err)
		}
		if tooBig {
			err = p.refuseFrame(data, fmt.Sprintf("a message of more than %d bytes", p.maxMessage()))
		} else {
			err = p.dispatch(ctx, data, &wg)
		}
		if err != nil {
			return err
		}
	}
}

func (p *Peer) maxMessage() int64 {
	if p.MaxMessage > 0 {
		return p.MaxMessage
	}
	return MaxMessageSize
}

// readFrame reads one message. Of one longer than maxMessage it returns
// the start only, with tooBig, having read the rest to throw it away.
func (p *Peer) readFrame() (data []byte, tooBig bool, err error) {
	_, r, err := p.ws.NextReader()
	if err != nil {
		return nil, false, err
	}
	limit := p.maxMessage()
	if data, err = io.ReadAll(io.LimitReader(r, limit+1)); err != nil {
		return nil, false, err
	}
	if int64(len(data)) <= limit {
		return data, false, nil
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, false, err
	}
	return data[:min(len(data), 1024)], true, nil
}

// callID reads the id of a CALL from the start of a message that cannot be
// decoded whole ("" if it cannot be read there).
var callID = regexp.MustCompile(`^\s*\[\s*2\s*,\s*"([^"\\]{1,256})"`)

// refuseFrame answers a message that cannot be taken: a FormationViolation
// to the CALL whose id it starts with, or, without a readable id, a log
// line. The connection stays.
func (p *Peer) refuseFrame(data []byte, why string) error {
	m := callID.FindSubmatch(data)
	if m == nil {
		p.logger.Warn("a message that cannot be read; dropped", "why", why, "bytes", len(data))
		return nil
	}
	p.logger.Warn("a CALL that cannot be read; refused", "why", why, "id", string(m[1]))
	return p.writeError(string(m[1]), &Error{Code: CodeFormationViolation, Description: why})
}

func (p *Peer) dispatch(ctx context.Context, data []byte, wg *sync.WaitGroup) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || len(raw) < 3 {
		return p.refuseFrame(data, "not a JSON frame of the protocol")
	}
	var typ int
	var id string
	if json.Unmarshal(raw[0], &typ) != nil || json.Unmarshal(raw[1], &id) != nil || id == "" {
		p.logger.Warn("frame without type or id; ignored")
		return nil
	}
	switch typ {
	case typeCall:
		var action string
		if len(raw) != 4 || json.Unmarshal(raw[2], &action) != nil {
			return p.writeError(id, &Error{Code: CodeFormationViolation, Description: "CALL needs [2, id, action, payload]"})
		}
		h := p.handler(action)
		if h == nil {
			return p.writeError(id, &Error{Code: CodeNotImplemented, Description: "unknown action " + strconv.Quote(action)})
		}
		if !p.startCall() {
			return p.writeError(id, &Error{Code: CodeInternalError, Description: "too many calls in flight; retry later"})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.endCall()
			res, err := h(ctx, raw[3])
			if err != nil {
				var perr *Error
				if !errors.As(err, &perr) {
					perr = &Error{Code: CodeInternalError, Description: err.Error()}
				}
				_ = p.writeError(id, perr)
				return
			}
			if res == nil {
				res = struct{}{}
			}
			_ = p.write([]any{typeCallResult, id, res})
		}()
	case typeCallResult:
		p.deliver(id, frame{result: raw[2]})
	case typeCallError:
		e := &Error{Code: CodeGenericError}
		_ = json.Unmarshal(raw[2], &e.Code)
		if len(raw) > 3 {
			_ = json.Unmarshal(raw[3], &e.Description)
		}
		if len(raw) > 4 {
			_ = json.Unmarshal(raw[4], &e.Details)
		}
		p.deliver(id, frame{err: e})
	default:
		p.logger.Warn("unknown frame type; ignored", "type", typ)
	}
	return nil
}

// startCall counts a CALL of the other side in, or reports that
// MaxInFlight are running already.
func (p *Peer) startCall() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.MaxInFlight > 0 && p.running >= p.MaxInFlight {
		return false
	}
	p.running++
	return true
}

func (p *Peer) endCall() {
	p.mu.Lock()
	p.running--
	p.mu.Unlock()
}

func (p *Peer) deliver(id string, f frame) {
	p.mu.Lock()
	ch, ok := p.pending[id]
	delete(p.pending, id)
	p.mu.Unlock()
	if !ok {
		p.logger.Debug("result for no pending call; ignored", "id", id)
		return
	}
	ch <- f
}

func (p *Peer) writeError(id string, e *Error) error {
	details := e.Details
	if details == nil {
		details = map[string]any{}
	}
	return p.write([]any{typeCallError, id, e.Code, e.Description, details})
}

func (p *Peer) write(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode frame: %w", err)
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	_ = p.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := p.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// Call sends a CALL and waits for its result, decoded into resp (which may be
// nil). A CALLERROR comes back as *Error.
func (p *Peer) Call(ctx context.Context, action string, req, resp any) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.nextID++
	id := strconv.FormatUint(p.nextID, 10)
	ch := make(chan frame, 1)
	if p.pending == nil {
		p.pending = make(map[string]chan frame)
	}
	p.pending[id] = ch
	p.mu.Unlock()

	if req == nil {
		req = struct{}{}
	}
	if err := p.write([]any{typeCall, id, action, req}); err != nil {
		p.mu.Lock()
		delete(p.pending, id)
		p.mu.Unlock()
		return fmt.Errorf("%s: %w", action, err)
	}
	select {
	case f, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: %w", action, ErrClosed)
		}
		if f.err != nil {
			return f.err
		}
		if resp != nil {
			if err := json.Unmarshal(f.result, resp); err != nil {
				return fmt.Errorf("%s: decode result: %w", action, err)
			}
		}
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.pending, id)
		p.mu.Unlock()
		return fmt.Errorf("%s: %w", action, ctx.Err())
	}
}

// Decode unmarshals a CALL payload strictly, answering a FormationViolation
// for a payload that does not fit v or, for a request with a Validate method
// (protocol/limits.go), that exceeds one of its caps.
func Decode(payload json.RawMessage, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		// In words, without the Go type names of json's text (issue 9 point 12).
		return &Error{Code: CodeFormationViolation, Description: jsonerr.Describe(err)}
	}
	if val, ok := v.(validator); ok {
		if err := val.Validate(); err != nil {
			return &Error{Code: CodeFormationViolation, Description: err.Error()}
		}
	}
	return nil
}
