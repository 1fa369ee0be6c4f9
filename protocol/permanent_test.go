package protocol

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestPermanent(t *testing.T) {
	generic := func(code string) *Error {
		return &Error{Code: CodeGenericError, Details: map[string]any{"code": code}}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"internal error (busy database, full disk)", &Error{Code: CodeInternalError}, false},
		{"security error (boot lost)", &Error{Code: CodeSecurityError}, false},
		{"protocol error", &Error{Code: CodeProtocolError}, false},
		{"generic without code", &Error{Code: CodeGenericError}, false},
		{"generic unknown code", generic("disk-full"), false},
		{"formation violation", &Error{Code: CodeFormationViolation}, true},
		{"not implemented", &Error{Code: CodeNotImplemented}, true},
		{"not found", generic(DetailNotFound), true},
		{"not releasable", generic(DetailNotReleasable), true},
		{"stale claim", generic(DetailStaleClaim), true},
		{"claimed", generic(DetailClaimed), true},
		{"claimed elsewhere", generic(DetailClaimedElsewhere), true},
		{"wrapped permanent", fmt.Errorf("job status 4: %w", generic(DetailNotFound)), true},
		{"closed connection", ErrClosed, false},
		{"timeout", context.DeadlineExceeded, false},
		{"plain error", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPermanent(tt.err); got != tt.want {
				t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
