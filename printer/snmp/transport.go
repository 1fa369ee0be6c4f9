package snmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"
)

// Errors a caller may want to tell apart.
var (
	// ErrNoAnswer: the printer did not answer in time (off, unplugged, a
	// wrong address, or a community or user it ignores). Callers show
	// the printer as unreachable.
	ErrNoAnswer = errors.New("printer does not answer")
	// ErrAuth: the printer refused our SNMPv3 credentials or security
	// level, or the community has no access.
	ErrAuth = errors.New("printer refused the SNMP credentials")
	// ErrNotIncreasing: a walk got an OID that does not come after the
	// previous one; the agent would have made us walk in circles.
	ErrNotIncreasing = errors.New("agent returned OIDs that do not increase")
)

// maxStringBytes bounds every string kept from an answer. The Printer-MIB
// strings we read are at most 255 octets; a longer one is a broken agent.
const maxStringBytes = 1024

// kind says whether a variable binding carries a value or one of SNMPv2's
// exceptions.
type kind uint8

const (
	kindValue kind = iota
	kindNoSuchObject
	kindNoSuchInstance
	kindEndOfMibView
)

// varbind is one variable binding of an answer, transport-neutral: OID
// without a leading dot; Value is uint64 (Counter32, Counter64, Gauge32,
// TimeTicks, Unsigned32), int64 (Integer32), string (OCTET STRING as raw
// bytes, OBJECT IDENTIFIER without a leading dot, IpAddress) or nil.
type varbind struct {
	OID   string
	Kind  kind
	Value any
}

// requester is one SNMP session: the three read requests the walker and
// the reader need. A response with an error status comes back as a
// *StatusError.
type requester interface {
	get(ctx context.Context, oids []string) ([]varbind, error)
	getNext(ctx context.Context, oids []string) ([]varbind, error)
	getBulk(ctx context.Context, oids []string, reps int) ([]varbind, error)
}

// StatusError is an SNMP response that carries an error status.
type StatusError struct {
	Op     string // get, getnext, getbulk
	Status gosnmp.SNMPError
	Index  int // 1-based index of the varbind at fault, 0 when none
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("snmp %s: agent answered %s (varbind %d)", e.Op, e.Status, e.Index)
	if e.Status == gosnmp.AuthorizationError || e.Status == gosnmp.NoAccess {
		msg += ": this user or community may not read these objects at this security level"
	}
	return msg
}

// Is makes authorization refusals match ErrAuth.
func (e *StatusError) Is(target error) bool {
	return target == ErrAuth && (e.Status == gosnmp.AuthorizationError || e.Status == gosnmp.NoAccess)
}

// session is a requester over gosnmp and UDP.
type session struct {
	g *gosnmp.GoSNMP
	// privacy is set for authPriv; answered once a request succeeded.
	// Together they let a silent agent after a good engine discovery be
	// told apart from one that is away (see do).
	privacy, answered bool
	log               *slog.Logger
	// trace, when set (tests, the benchmark), sees every request.
	trace func(op string, oids []string)
}

// dial opens a UDP session to the printer. The socket is closed when ctx
// ends, which is what stops a request waiting on a printer that went away
// (gosnmp itself only looks at the context between requests).
func dial(ctx context.Context, s Settings, log *slog.Logger) (*session, func(), error) {
	host, portStr, err := net.SplitHostPort(s.Target)
	if err != nil {
		return nil, nil, fmt.Errorf("snmp target %q: %w", s.Target, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, nil, fmt.Errorf("snmp target %q: bad port", s.Target)
	}
	g := &gosnmp.GoSNMP{
		Target:             host,
		Port:               uint16(port),
		Transport:          "udp",
		Community:          s.Community,
		Timeout:            s.Timeout,
		Retries:            s.Retries,
		MaxOids:            gosnmp.MaxOids,
		MaxRepetitions:     uint32(s.MaxRepetitions),
		ExponentialTimeout: false,
		Context:            ctx,
	}
	switch s.Version {
	case "1":
		g.Version = gosnmp.Version1
	case "2c":
		g.Version = gosnmp.Version2c
	case "3":
		g.Version = gosnmp.Version3
		g.Community = ""
		g.SecurityModel = gosnmp.UserSecurityModel
		usm := &gosnmp.UsmSecurityParameters{UserName: s.User}
		switch s.Level {
		case AuthPriv:
			g.MsgFlags = gosnmp.AuthPriv
		case AuthNoPriv:
			g.MsgFlags = gosnmp.AuthNoPriv
		default:
			g.MsgFlags = gosnmp.NoAuthNoPriv
		}
		if s.Level != NoAuthNoPriv {
			usm.AuthenticationProtocol, _ = authProtocol(s.AuthProto)
			usm.AuthenticationPassphrase = s.AuthPass
		}
		if s.Level == AuthPriv {
			usm.PrivacyProtocol, _ = privProtocol(s.PrivProto)
			usm.PrivacyPassphrase = s.PrivPass
		}
		g.SecurityParameters = usm
	default:
		return nil, nil, fmt.Errorf("snmp: version %q", s.Version)
	}
	if err := g.Connect(); err != nil {
		return nil, nil, fmt.Errorf("snmp connect %s: %w", s.Target, err)
	}
	stop := context.AfterFunc(ctx, func() { g.Conn.Close() })
	closeFn := func() {
		stop()
		g.Conn.Close()
	}
	return &session{g: g, privacy: s.Version == "3" && s.Level == AuthPriv, log: log}, closeFn, nil
}

func authProtocol(name string) (gosnmp.SnmpV3AuthProtocol, bool) {
	switch strings.ToUpper(name) {
	case "SHA", "SHA1", "SHA-1":
		return gosnmp.SHA, true
	case "SHA-224", "SHA224":
		return gosnmp.SHA224, true
	case "SHA-256", "SHA256":
		return gosnmp.SHA256, true
	case "SHA-384", "SHA384":
		return gosnmp.SHA384, true
	case "SHA-512", "SHA512":
		return gosnmp.SHA512, true
	}
	return gosnmp.NoAuth, false
}

func privProtocol(name string) (gosnmp.SnmpV3PrivProtocol, bool) {
	switch strings.ToUpper(name) {
	case "AES", "AES-128", "AES128":
		return gosnmp.AES, true
	}
	return gosnmp.NoPriv, false
}

func (s *session) get(ctx context.Context, oids []string) ([]varbind, error) {
	return s.do(ctx, "get", oids, 0)
}

func (s *session) getNext(ctx context.Context, oids []string) ([]varbind, error) {
	return s.do(ctx, "getnext", oids, 0)
}

func (s *session) getBulk(ctx context.Context, oids []string, reps int) ([]varbind, error) {
	return s.do(ctx, "getbulk", oids, reps)
}

func (s *session) do(ctx context.Context, op string, oids []string, reps int) ([]varbind, error) {
	if len(oids) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, noAnswer(ctx, err)
	}
	if s.trace != nil {
		s.trace(op, oids)
	}
	dotted := make([]string, len(oids))
	for i, o := range oids {
		dotted[i] = "." + o
	}
	var (
		pkt   *gosnmp.SnmpPacket
		err   error
		start = time.Now()
	)
	defer func() {
		n := 0
		if pkt != nil {
			n = len(pkt.Variables)
		}
		s.log.Debug("snmp request", "op", op, "oids", len(oids), "first", oids[0], "reps", reps,
			"varbinds", n, "took", time.Since(start), "err", err)
	}()
	switch op {
	case "get":
		pkt, err = s.g.Get(dotted)
	case "getnext":
		pkt, err = s.g.GetNext(dotted)
	default:
		pkt, err = s.g.GetBulk(dotted, 0, uint32(reps))
	}
	if err != nil {
		err = transportError(ctx, op, err)
		if s.privacy && !s.answered && errors.Is(err, ErrNoAnswer) && ctx.Err() == nil && s.discovered() {
			// snmpd drops a request it cannot decrypt ("error parsing
			// ScopedPDU") without a word; the engine discovery before it
			// went through, so the printer is there.
			// A printer too slow to answer in time looks the same from
			// here, so the words name both.
			return nil, fmt.Errorf("snmp %s: %w: the printer answered SNMPv3 discovery, then ignored the encrypted request: wrong privacy pass phrase or protocol (or the printer is too slow for the timeout)", op, ErrAuth)
		}
		return nil, err
	}
	s.answered = true
	if pkt.Error != gosnmp.NoError {
		return nil, &StatusError{Op: op, Status: pkt.Error, Index: int(pkt.ErrorIndex)}
	}
	out := make([]varbind, len(pkt.Variables))
	for i, p := range pkt.Variables {
		out[i] = fromPDU(p)
	}
	return out, nil
}

// discovered reports whether the agent answered the SNMPv3 engine
// discovery.
func (s *session) discovered() bool {
	usm, ok := s.g.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	return ok && usm.AuthoritativeEngineID != ""
}

// transportError turns gosnmp's errors into ours, with words a technician
// can act on.
func transportError(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, gosnmp.ErrWrongDigest):
		return fmt.Errorf("snmp %s: %w: wrong authentication pass phrase or protocol (SNMPv3 authentication failure)", op, ErrAuth)
	case errors.Is(err, gosnmp.ErrDecryption):
		return fmt.Errorf("snmp %s: %w: wrong privacy pass phrase or protocol (SNMPv3 decryption error)", op, ErrAuth)
	case strings.Contains(err.Error(), "not authentic"):
		// The agent's refusal (a Report of usmStatsWrongDigests or
		// usmStatsUnknownUserNames) is sent unauthenticated, so gosnmp
		// cannot read it; it only sees an answer it cannot verify.
		return fmt.Errorf("snmp %s: %w: wrong user name, authentication protocol or pass phrase (the printer's answer failed authentication)", op, ErrAuth)
	case errors.Is(err, gosnmp.ErrUnknownUsername):
		return fmt.Errorf("snmp %s: %w: unknown SNMPv3 user", op, ErrAuth)
	case errors.Is(err, gosnmp.ErrUnknownSecurityLevel):
		return fmt.Errorf("snmp %s: %w: the user does not allow this security level", op, ErrAuth)
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, gosnmp.ErrMaxRetriesExceeded) ||
		errors.Is(err, net.ErrClosed) || isTimeout(err) {
		return noAnswer(ctx, err)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		// ICMP port unreachable on a connected UDP socket: nothing listens.
		return fmt.Errorf("snmp %s: %w: %v", op, ErrNoAnswer, err)
	}
	return fmt.Errorf("snmp %s: %w", op, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return (errors.As(err, &ne) && ne.Timeout()) || strings.Contains(err.Error(), "timeout")
}

// noAnswer explains why a request got no answer.
func noAnswer(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%w: %w", ErrNoAnswer, context.Canceled)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w before the deadline", ErrNoAnswer)
	}
	return fmt.Errorf("%w (%v)", ErrNoAnswer, err)
}

// fromPDU converts a gosnmp variable binding. It accepts any Go type in
// Value whatever Type says, because a broken agent (or the fuzzer) can
// pair them wrongly; a value that does not fit becomes nil.
func fromPDU(p gosnmp.SnmpPDU) varbind {
	v := varbind{OID: strings.TrimPrefix(p.Name, ".")}
	switch p.Type {
	case gosnmp.NoSuchObject:
		v.Kind = kindNoSuchObject
		return v
	case gosnmp.NoSuchInstance:
		v.Kind = kindNoSuchInstance
		return v
	case gosnmp.EndOfMibView:
		v.Kind = kindEndOfMibView
		return v
	case gosnmp.Integer:
		if n, ok := asInt64(p.Value); ok {
			v.Value = n
		}
	case gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Counter64, gosnmp.Uinteger32:
		if n, ok := asUint64(p.Value); ok {
			v.Value = n
		}
	case gosnmp.OctetString, gosnmp.BitString, gosnmp.Opaque:
		switch b := p.Value.(type) {
		case []byte:
			v.Value = clip(string(b))
		case string:
			v.Value = clip(b)
		}
	case gosnmp.ObjectIdentifier, gosnmp.IPAddress:
		if s, ok := p.Value.(string); ok {
			v.Value = clip(strings.TrimPrefix(s, "."))
		}
	}
	return v
}

func clip(s string) string {
	if len(s) > maxStringBytes {
		return s[:maxStringBytes]
	}
	return s
}

func asInt64(x any) (int64, bool) {
	switch n := x.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint:
		if uint64(n) <= math.MaxInt64 {
			return int64(n), true
		}
	case uint32:
		return int64(n), true
	case uint64:
		if n <= math.MaxInt64 {
			return int64(n), true
		}
	}
	return 0, false
}

func asUint64(x any) (uint64, bool) {
	switch n := x.(type) {
	case uint:
		return uint64(n), true
	case uint32:
		return uint64(n), true
	case uint64:
		return n, true
	case int:
		if n >= 0 {
			return uint64(n), true
		}
	case int64:
		if n >= 0 {
			return uint64(n), true
		}
	}
	return 0, false
}

// maxArcs is SNMP's limit on sub-identifiers (RFC 2578 §3.5). It also
// stops an agent that answers ever longer OIDs from growing our memory.
const maxArcs = 128

// validOID reports whether s is a dotted OID we can compare: 2 to 128
// arcs, each a decimal number that fits 32 bits, without leading zeros.
func validOID(s string) bool {
	if s == "" || len(s) > maxArcs*11 {
		return false
	}
	arcs := 0
	for part := range strings.SplitSeq(s, ".") {
		if part == "" || len(part) > 10 || (len(part) > 1 && part[0] == '0') {
			return false
		}
		if _, err := strconv.ParseUint(part, 10, 32); err != nil {
			return false
		}
		arcs++
	}
	return arcs >= 2 && arcs <= maxArcs
}

// compareOID orders two valid dotted OIDs arc by arc, numerically.
func compareOID(a, b string) int {
	for a != "" || b != "" {
		if a == "" {
			return -1
		}
		if b == "" {
			return 1
		}
		var pa, pb string
		pa, a, _ = strings.Cut(a, ".")
		pb, b, _ = strings.Cut(b, ".")
		if len(pa) != len(pb) {
			if len(pa) < len(pb) {
				return -1
			}
			return 1
		}
		if pa != pb {
			if pa < pb {
				return -1
			}
			return 1
		}
	}
	return 0
}

// under reports whether oid lies strictly inside the subtree root.
func under(oid, root string) bool {
	return len(oid) > len(root) && oid[len(root)] == '.' && strings.HasPrefix(oid, root)
}
