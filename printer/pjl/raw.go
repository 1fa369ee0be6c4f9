package pjl

import (
	"context"
	"fmt"
	"io"
	"time"
)

// drainWait bounds how long SendRaw reads what the printer says after the
// last byte, before closing: closing with unread input would reset the
// connection, and a reset may drop bytes the printer has not read yet.
const drainWait = 30 * time.Second

// SendRaw streams body to the printer's port exactly as it is, with no
// PJL around it: a printer firmware file carries its own (an HP .rfu
// begins with @PJL UPGRADE), and wrapping it in a job would change the
// bytes the printer checks. It returns the bytes the connection accepted;
// it does not wait for the printer to act on them beyond reading them.
func (c *Client) SendRaw(ctx context.Context, body io.Reader) (int64, error) {
	conn, err := c.dial(ctx, "tcp", c.addr)
	if err != nil {
		return 0, fmt.Errorf("connect to %s: %w", c.addr, err)
	}
	defer conn.Close()
	// Cancelling ctx must unblock a write the printer stopped reading.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	n, err := io.CopyBuffer(conn, body, make([]byte, copyBufSize))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
		return n, fmt.Errorf("send to %s (%d bytes sent): %w", c.addr, n, err)
	}
	// Half-close: the printer sees the end of the file; then read what it
	// says until it closes too, or drainWait.
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			c.log.Debug("half-close failed", "err", err)
		}
	}
	// A socket deadline is real time, whatever clock the client was given.
	_ = conn.SetReadDeadline(time.Now().Add(drainWait))
	_, _ = io.Copy(io.Discard, conn)
	return n, nil
}
