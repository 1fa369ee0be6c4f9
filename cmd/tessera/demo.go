package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tessera-print/tessera/agent"
	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/printer/virtual"
	"github.com/tessera-print/tessera/version"
)

// demoPDF is CUPS's one-page default.pdf, the document of the printed curl line.
//
//go:embed demo.pdf
var demoPDF []byte

// The demo user's badge: the reader delivers hex, the pipeline makes it decimal.
const (
	demoUser    = "alice"
	demoRawCard = "946EBD28"
	demoCard    = "2490285352" // hex2dec(946EBD28)
)

func runDemo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tessera demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hubBin := fs.String("hub-bin", siblingBinary("tessera-hub"), "path of the tessera-hub binary")
	dir := fs.String("dir", "", "working directory (default: a temporary one, removed at exit)")
	level := fs.String("log-level", "info", "log level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *level, "text")
	if err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "tessera-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}

	// 1. The virtual printer.
	vp, err := virtual.New(virtual.Config{Dir: filepath.Join(*dir, "printed"), Name: "Tessera Demo Printer",
		PrintDelay: time.Second, Logger: logger.With("component", "virtual-printer")})
	if err != nil {
		return fmt.Errorf("virtual printer: %w", err)
	}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	psrv := &http.Server{Handler: vp.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = psrv.Serve(pln) }()
	defer psrv.Close()
	printerURI := "ipp://" + pln.Addr().String() + "/ipp/print"

	// 2. The hub, as its own process, as in production.
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	tokenFile := filepath.Join(*dir, "admin-token")
	if err := os.WriteFile(tokenFile, []byte(hex.EncodeToString(token)), 0o600); err != nil {
		return err
	}
	hubAddr, err := freeAddr()
	if err != nil {
		return err
	}
	hub := exec.Command(*hubBin, "serve", "--listen", hubAddr, "--data", filepath.Join(*dir, "hub"),
		"--admin-token-file", tokenFile, "--open-enrollment")
	hub.Stdout, hub.Stderr = stderr, stderr
	dieWithParent(hub)
	if err := hub.Start(); err != nil {
		return fmt.Errorf("start hub (%s): %w; build it with `make build`", *hubBin, err)
	}
	defer func() {
		_ = hub.Process.Signal(syscall.SIGTERM)
		_ = hub.Wait()
	}()
	hubURL := "http://" + hubAddr
	if err := waitHealthy(ctx, hubURL+"/healthz"); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if err := seedUser(ctx, hubURL, hex.EncodeToString(token)); err != nil {
		return fmt.Errorf("seed demo user: %w", err)
	}
	samplePDF := filepath.Join(*dir, "sample.pdf")
	if err := os.WriteFile(samplePDF, demoPDF, 0o644); err != nil {
		return err
	}

	// 3. The agent.
	readerAddr, err := freeAddr()
	if err != nil {
		return err
	}
	panelAddr, err := freeAddr()
	if err != nil {
		return err
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(*dir, "agent")
	cfg.HubURL = hubURL
	cfg.PrinterURI = printerURI
	cfg.Readers = []string{"tcp-listen://" + readerAddr}
	cfg.CardPipeline = "hex2dec"
	cfg.PanelListen = panelAddr
	cfg.SessionTimeout = config.Duration(5 * time.Minute)
	ready := func(addr string) {
		fmt.Fprintf(stdout, `
Tessera demo is up.

  Panel:        http://%[1]s/   (session as JSON: curl http://%[1]s/api/v1/session)
  Submit a job: curl -H "Authorization: Bearer $(cat %[2]s)" -F owner=%[3]s -F name=hello.pdf -F file=@%[4]s %[5]s/api/v1/jobs
  Swipe:        type %[6]s and Enter here, or from another shell: echo %[6]s > /dev/tcp/%[7]s
  Release all:  curl -X POST -d '{"all":true}' http://%[1]s/api/v1/release
  Printed pages land in %[8]s

Ctrl-C stops everything.

`, addr, tokenFile, demoUser, samplePDF, hubURL, demoRawCard, strings.Replace(readerAddr, ":", "/", 1), filepath.Join(*dir, "printed"))
	}
	return agent.Run(ctx, cfg, agent.Options{
		Version:   version.Current(buildVersion).String(),
		BuildTime: version.BuildTime(buildTime),
		Logger:    logger,
		Readers:   []cardreader.Reader{&lineReader{name: "terminal", r: stdin}},
		Ready:     ready,
	})
}

// siblingBinary is name beside the running executable.
func siblingBinary(name string) string {
	exe, err := os.Executable()
	if err != nil {
		return name
	}
	return filepath.Join(filepath.Dir(exe), name)
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitHealthy(ctx context.Context, url string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy after 15 s: %v", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func seedUser(ctx context.Context, hubURL, token string) error {
	body, _ := json.Marshal(map[string]any{
		"username": demoUser, "full_name": "Alice Demo", "language": "en", "cards": []string{demoCard},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hubURL+"/api/v1/users", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("hub answered %s: %s", resp.Status, msg)
	}
	return nil
}

// lineReader is the demo's terminal reader: each line typed is a card read.
type lineReader struct {
	name string
	r    io.Reader
}

func (l *lineReader) Name() string { return l.name }

func (l *lineReader) Run(ctx context.Context, sink cardreader.Sink) error {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(l.r)
		for sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
	}()
	sink.State(cardreader.Event{Reader: l.name, Attached: true})
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				sink.State(cardreader.Event{Reader: l.name, Attached: false, Err: errors.New("terminal closed")})
				<-ctx.Done()
				return nil
			}
			if line != "" {
				sink.Read(cardreader.Read{Value: line, Reader: l.name, At: time.Now()})
			}
		}
	}
}
