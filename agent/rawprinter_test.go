package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/printer/pjl"
	"github.com/tessera-print/tessera/release"
)

// fake9100 answers one job with the USTATUS END of HP's PJL reference
// (page 7-37 shape), with the given pages and result; "" answers nothing
// and cuts the connection after the data.
func fake9100(t *testing.T, pages int, result string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	nameRe := regexp.MustCompile(`@PJL JOB NAME="([^"]+)"`)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		var seen bytes.Buffer
		for !bytes.Contains(seen.Bytes(), []byte("@PJL EOJ")) {
			line, err := r.ReadBytes('\n')
			seen.Write(line)
			if err != nil {
				return
			}
		}
		if result == "" {
			return
		}
		m := nameRe.FindSubmatch(seen.Bytes())
		if m == nil {
			return
		}
		fmt.Fprintf(c, "@PJL USTATUS JOB\r\nEND\r\nNAME=\"%s\"\r\nPAGES=%d\r\nRESULT=%s\r\n\f", m[1], pages, result)
		_, _ = io.Copy(io.Discard, r)
	}()
	return "socket://" + ln.Addr().String()
}

func TestRawPrinter(t *testing.T) {
	doc := "%PDF-1.4 raw\n"
	tests := []struct {
		name      string
		pages     int
		result    string
		wantState string
		wantErr   error
	}{
		{"printed", 3, "OK", "completed", nil},
		// RESULT keywords from HP's PJL Technical Reference (USTATUS JOB).
		{"canceled at the panel after one page", 1, "USER_CANCELED", "canceled", nil},
		{"canceled by the host", 0, "HOST_CANCELED", "canceled", nil},
		{"canceled for lack of resources", 2, "RESOURCE_CANCELED", "canceled", nil},
		{"silent and cut", 0, "", "", release.ErrUncertain},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := pjl.New(fake9100(t, tc.pages, tc.result), pjl.Options{JobTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			p := newRawPrinter(c)
			id, err := p.Print(context.Background(), ipp.Job{Name: "tessera-hub-1-1-abc", User: "alice", Format: "application/pdf",
				Copies: 1, Size: int64(len(doc)), Body: strings.NewReader(doc)})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Print: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st, err := p.Wait(context.Background(), id)
			if err != nil || st.State != tc.wantState || st.Impressions != tc.pages {
				t.Fatalf("Wait = %+v, %v", st, err)
			}
			if _, _, err := p.FindJob(context.Background(), "x", "alice"); !errors.Is(err, release.ErrNoJobQuery) {
				t.Fatalf("FindJob: %v", err)
			}
		})
	}
}
