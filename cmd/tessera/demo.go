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
	"log/slog"
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
	printerURI, stopPrinter, err := startVirtualPrinter(*dir, logger)
	if err != nil {
		return err
	}
	defer stopPrinter()
	hub, err := startDemoHub(ctx, *hubBin, *dir, stderr)
	if hub != nil {
		defer hub.stop()
	}
	if err != nil {
		return err
	}
	samplePDF := filepath.Join(*dir, "sample.pdf")
	if err := os.WriteFile(samplePDF, demoPDF, 0o644); err != nil {
		return err
	}
	cfg, err := demoConfig(*dir, hub.url, printerURI)
	if err != nil {
		return err
	}
	readerAddr := strings.TrimPrefix(cfg.Readers[0], "tcp-listen://")
	ready := func(addr string) {
		fmt.Fprintf(stdout, demoBanner, addr, hub.tokenFile, demoUser, samplePDF, hub.url, demoRawCard,
			strings.Replace(readerAddr, ":", "/", 1), filepath.Join(*dir, "printed"))
	}
	return agent.Run(ctx, cfg, agent.Options{
		Version:   version.Current(buildVersion).String(),
		BuildTime: version.BuildTime(buildTime),
		Logger:    logger,
		Readers:   []cardreader.Reader{&lineReader{name: "terminal", r: stdin}},
		Ready:     ready,
	})
}

// demoBanner tells what to do once the demo is up: panel address, admin
// token file, user, sample PDF, hub URL, raw card, reader as HOST/PORT,
// printed pages' folder.
const demoBanner = `
Tessera demo is up.

  Panel:        http://%[1]s/   (session as JSON: curl http://%[1]s/api/v1/session)
  Submit a job: curl -H "Authorization: Bearer $(cat %[2]s)" -F owner=%[3]s -F name=hello.pdf -F file=@%[4]s %[5]s/api/v1/jobs
  Swipe:        type %[6]s and Enter here, or from another shell: echo %[6]s > /dev/tcp/%[7]s
  Release all:  curl -X POST -d '{"all":true}' http://%[1]s/api/v1/release
  Printed pages land in %[8]s

Ctrl-C stops everything.

`

// startVirtualPrinter serves the built-in virtual printer on a free
// loopback port; it returns its URI and how to stop it.
func startVirtualPrinter(dir string, logger *slog.Logger) (string, func(), error) {
	vp, err := virtual.New(virtual.Config{Dir: filepath.Join(dir, "printed"), Name: "Tessera Demo Printer",
		PrintDelay: time.Second, Logger: logger.With("component", "virtual-printer")})
	if err != nil {
		return "", nil, fmt.Errorf("virtual printer: %w", err)
	}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	psrv := &http.Server{Handler: vp.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = psrv.Serve(pln) }()
	return "ipp://" + pln.Addr().String() + "/ipp/print", func() { psrv.Close() }, nil
}

// demoHub is the hub the demo runs as its own process, as in production.
type demoHub struct {
	cmd            *exec.Cmd
	url, tokenFile string
}

func (h *demoHub) stop() {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	_ = h.cmd.Wait()
}

// startDemoHub starts tessera-hub with a fresh admin token and seeds the
// demo user. A hub returned with an error has started: stop it.
func startDemoHub(ctx context.Context, bin, dir string, stderr io.Writer) (*demoHub, error) {
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	h := &demoHub{tokenFile: filepath.Join(dir, "admin-token")}
	if err := os.WriteFile(h.tokenFile, []byte(hex.EncodeToString(token)), 0o600); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	h.url = "http://" + addr
	h.cmd = exec.Command(bin, "serve", "--listen", addr, "--data", filepath.Join(dir, "hub"),
		"--admin-token-file", h.tokenFile, "--open-enrollment")
	h.cmd.Stdout, h.cmd.Stderr = stderr, stderr
	dieWithParent(h.cmd)
	if err := h.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start hub (%s): %w; build it with `make build`", bin, err)
	}
	if err := waitHealthy(ctx, h.url+"/healthz"); err != nil {
		return h, fmt.Errorf("hub: %w", err)
	}
	if err := seedUser(ctx, h.url, hex.EncodeToString(token)); err != nil {
		return h, fmt.Errorf("seed demo user: %w", err)
	}
	return h, nil
}

// demoConfig is the demo agent's config: the demo's hub and printer, a
// network reader and the panel on free loopback ports.
func demoConfig(dir, hubURL, printerURI string) (config.Config, error) {
	readerAddr, err := freeAddr()
	if err != nil {
		return config.Config{}, err
	}
	panelAddr, err := freeAddr()
	if err != nil {
		return config.Config{}, err
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "agent")
	cfg.HubURL = hubURL
	cfg.PrinterURI = printerURI
	cfg.Readers = []string{"tcp-listen://" + readerAddr}
	cfg.CardPipeline = "hex2dec"
	cfg.PanelListen = panelAddr
	cfg.SessionTimeout = config.Duration(5 * time.Minute)
	return cfg, nil
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
