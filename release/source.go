package release

import (
	"context"
	"time"
)

// Held is a job waiting at a source. ID is the source's own id (without the
// "name:" prefix the engine adds).
type Held struct {
	ID          string
	Name        string
	Owner       string // as the source knows it (e.g. "DOMAIN\\user"), shown as it is
	Pages       int    // 0: unknown
	Copies      int
	Color       bool
	Duplex      bool
	Format      string // MIME type
	Size        int64  // bytes; -1: unknown
	SubmittedAt time.Time
	DelegatedBy string // the sender of a delegated job, "" otherwise
	Media       string // IPP media keyword asked for, "" for the printer's default
	// HeldAt names the printer (agent) another's lease holds the job at:
	// releasing it here first asks the hub for it back.
	HeldAt string
}

// Who is the person a release acts for: their user name and, for a session
// the hub opened, its login_token ("" offline, for a direct job, or without
// a hub). The token is a secret: never logged.
type Who struct {
	Username   string
	LoginToken string
}

// loginKey keys the login token in a context.
type loginKey struct{}

// WithLoginToken is ctx carrying the session's login token to a source.
func WithLoginToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, loginKey{}, token)
}

// LoginToken is the login token the engine passes a source with a call
// (see Source), "" for none.
func LoginToken(ctx context.Context) string {
	tok, _ := ctx.Value(loginKey{}).(string)
	return tok
}

// Source is a place where jobs are held for release: the hub, a CUPS server
// holding jobs, or the agent's own IPP endpoint.
//
// The engine calls List, Open and Delete with the session's login token in
// ctx (LoginToken): a source that acts for the person elsewhere (the hub,
// which requires it) passes it on; the others ignore it. It travels in the
// context rather than as a parameter so that every source keeps the
// interface it has; the engine, which owns the calls, always sets it.
type Source interface {
	// Name is the source's prefix in job ids: "hub", "cups", "local".
	Name() string
	// List returns the held jobs of username. The engine passes the
	// session's name through the site's rule (Config.NormalizeUser) first,
	// except to the hub; a source compares its owners through the same rule,
	// both sides, so that "CORP\\Alice" is "alice".
	List(ctx context.Context, username string) ([]Held, error)
	// Open streams a job's document; the engine closes it.
	Open(ctx context.Context, id, username string) (*Document, error)
	// Printed removes a printed job from the source, unless keep
	// (print-and-keep) asks to hold it again.
	Printed(ctx context.Context, id, username string, keep bool) error
	// Delete removes a held job at its owner's request.
	Delete(ctx context.Context, id, username string) error
}
