package agent

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/tessera-print/tessera/printer/snmp"
)

// The diagnostics bundle (docs/protocol.md "upload-logs"): one tar.gz that
// tells a support engineer what this agent is, how it is set up and how it
// fares, defined once here and written by the upload-logs task and by the
// firmware issue's USB stick alike. It never holds a secret: the config's
// secret keys and URL credentials are redacted, and every entry is
// scrubbed of the secrets the agent read from its files (device token,
// passwords, PINs) before it is written. No document, card number or PIN
// is in any entry: the agent never logs them, and the database entries
// are counts and states, never rows.

// Bounds of the bundle.
const (
	// maxBundleLogBytes is how much of each log file goes in: its end.
	maxBundleLogBytes = 32 << 20
	// bundleWalkTimeout bounds the fresh walk of the printer's MIBs.
	bundleWalkTimeout = 30 * time.Second
	// bundleTasks is how many of the latest tasks tasks.json lists.
	bundleTasks = 100
	// minScrubLength: shorter "secrets" are not searched for (they would
	// mask ordinary text and guard nothing).
	minScrubLength = 4
)

// redacted replaces a secret value in the bundle.
const redacted = "(redacted)"

// bundleEntry is one entry of the manifest.
type bundleEntry struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
	// Error says why the entry is missing or partial.
	Error string `json:"error,omitempty"`
}

// bundleManifest is manifest.json, the bundle's last entry.
type bundleManifest struct {
	Format    int           `json:"format"`
	AgentID   string        `json:"agent_id"`
	Version   string        `json:"version"`
	CreatedAt time.Time     `json:"created_at"`
	Entries   []bundleEntry `json:"entries"`
}

// bundle writes entries to a tar stream, each scrubbed of the secrets.
type bundle struct {
	tw      *tar.Writer
	at      time.Time
	scrub   *strings.Replacer
	entries []bundleEntry
}

// add writes one entry; a collection error is noted in the manifest
// beside what could be collected.
func (b *bundle) add(name string, data []byte, collectErr error) error {
	data = []byte(b.scrub.Replace(string(data)))
	e := bundleEntry{Name: name, Bytes: int64(len(data))}
	if collectErr != nil {
		e.Error = b.scrub.Replace(collectErr.Error())
	}
	b.entries = append(b.entries, e)
	if err := b.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: b.at}); err != nil {
		return fmt.Errorf("bundle %s: %w", name, err)
	}
	if _, err := b.tw.Write(data); err != nil {
		return fmt.Errorf("bundle %s: %w", name, err)
	}
	return nil
}

// addJSON writes v as indented JSON.
func (b *bundle) addJSON(name string, v any, collectErr error) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // URLs stay readable: & not \u0026
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return b.add(name, nil, fmt.Errorf("encode: %w", err))
	}
	return b.add(name, buf.Bytes(), collectErr)
}

// addFile writes the end of a log file, at most maxBundleLogBytes of it,
// as it was when the entry began (the agent goes on logging meanwhile).
// The scrub keeps each line's length, so the size is known before the
// copy and the file never sits in memory whole.
func (b *bundle) addFile(name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return b.add(name, nil, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return b.add(name, nil, err)
	}
	size := st.Size()
	if size > maxBundleLogBytes {
		if _, err := f.Seek(size-maxBundleLogBytes, io.SeekStart); err != nil {
			return b.add(name, nil, err)
		}
		size = maxBundleLogBytes
	}
	b.entries = append(b.entries, bundleEntry{Name: name, Bytes: size})
	if err := b.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: b.at}); err != nil {
		return fmt.Errorf("bundle %s: %w", name, err)
	}
	r := bufio.NewReader(io.LimitReader(f, size))
	var n int64
	for {
		line, rerr := r.ReadString('\n')
		if line != "" {
			m, err := io.WriteString(b.tw, b.scrub.Replace(line))
			n += int64(m)
			if err != nil {
				return fmt.Errorf("bundle %s: %w", name, err)
			}
		}
		if rerr == io.EOF {
			break
		} else if rerr != nil {
			// The header promised size bytes: pad, and say so.
			b.entries[len(b.entries)-1].Error = rerr.Error()
			if _, err := b.tw.Write(make([]byte, size-n)); err != nil {
				return fmt.Errorf("bundle %s: %w", name, err)
			}
			break
		}
	}
	return nil
}

// maskReplacer replaces each secret by as many '*': the length stays, so
// a scrubbed file keeps the size its tar header announced.
func maskReplacer(secrets ...string) *strings.Replacer {
	var pairs []string
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s) < minScrubLength || seen[s] {
			continue
		}
		seen[s] = true
		pairs = append(pairs, s, strings.Repeat("*", len(s)))
	}
	return strings.NewReplacer(pairs...)
}

// secrets are the secret values the agent read from the files its config
// names: no entry of a bundle may hold one. The proxy's password is read
// again (the System keeps it only inside its proxy function), and so is
// the device token (the hub may have issued it since the start).
func (s *System) secrets() []string {
	out := []string{s.deviceToken, s.cupsPassword, s.technicianPIN, s.panelToken}
	for _, path := range []string{s.cfg.ProxyPasswordFile, s.tokenPath} {
		if path == "" {
			continue
		}
		if b, err := os.ReadFile(path); err == nil {
			out = append(out, strings.TrimSpace(string(b)))
		}
	}
	return out
}

// diagnostics writes the diagnostics bundle as a tar.gz to w: logs,
// redacted configuration, versions, database statistics, sync status, the
// printer's last status and a fresh walk of its MIBs, recent tasks, and
// manifest.json listing them. A part that cannot be collected is noted in
// the manifest and the rest still written; the error is w's or the
// archive's.
func (r *running) diagnostics(ctx context.Context, w io.Writer) error {
	zw := gzip.NewWriter(w)
	b := &bundle{tw: tar.NewWriter(zw), at: r.floor.Now().UTC(), scrub: maskReplacer(r.secrets()...)}
	steps := []func(context.Context, *bundle) error{r.bundleVersions, r.bundleConfig, r.bundleDatabase,
		r.bundleSync, r.bundleTasks, r.bundlePrinter, r.bundleLogs}
	for _, step := range steps {
		if err := step(ctx, b); err != nil {
			return err
		}
	}
	agentID, _ := r.store.AgentID(ctx)
	m := bundleManifest{Format: 1, AgentID: agentID, Version: r.opts.Version, CreatedAt: b.at,
		Entries: append(b.entries, bundleEntry{Name: "manifest.json"})}
	if err := b.addJSON("manifest.json", m, nil); err != nil {
		return err
	}
	if err := b.tw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}

// bundleVersions is versions.json.
func (r *running) bundleVersions(ctx context.Context, b *bundle) error {
	v := map[string]any{"agent": r.opts.Version, "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH}
	if !r.opts.BuildTime.IsZero() {
		v["build_time"] = r.opts.BuildTime.UTC()
	}
	schema, err := r.store.SchemaVersion(ctx)
	v["schema"] = schema
	return b.addJSON("versions.json", v, err)
}

// bundleConfig is config.json: the configuration in force, redacted.
func (r *running) bundleConfig(_ context.Context, b *bundle) error {
	v, err := redactConfig(r.cfg)
	return b.addJSON("config.json", v, err)
}

// bundleDatabase is database.json: sizes, rows per table, quick_check.
func (r *running) bundleDatabase(ctx context.Context, b *bundle) error {
	st, err := r.store.Stats(ctx)
	return b.addJSON("database.json", st, err)
}

// bundleSync is sync.json: the link, the outbox and the credential cache.
func (r *running) bundleSync(ctx context.Context, b *bundle) error {
	v := map[string]any{"hub_url": redactURL(r.cfg.HubURL), "online": r.link.Online()}
	if at := r.linkSeen.last(); !at.IsZero() {
		v["last_online"] = at.UTC()
	}
	ob, err := r.store.OutboxStats(ctx)
	if err == nil {
		out := map[string]any{"pending": ob.Pending}
		if !ob.Oldest.IsZero() {
			out["oldest"] = ob.Oldest.UTC()
		}
		if !ob.LastAck.IsZero() {
			out["last_ack"] = ob.LastAck.UTC()
		}
		v["outbox"] = out
	}
	// The cache's version, size and last sync: never its offline key.
	cs, cerr := r.store.CacheState(ctx)
	if cerr == nil {
		users := map[string]any{"version": cs.Version, "users": cs.Users}
		if !cs.SyncedAt.IsZero() {
			users["synced_at"] = cs.SyncedAt.UTC()
		}
		v["users"] = users
	}
	return b.addJSON("sync.json", v, errors.Join(err, cerr))
}

// bundleTasks is tasks.json: the latest tasks, without their results.
func (r *running) bundleTasks(ctx context.Context, b *bundle) error {
	ts, err := r.store.RecentTasks(ctx, bundleTasks)
	return b.addJSON("tasks.json", ts, err)
}

// bundlePrinter is printer/status.json (the last SNMP reading) and
// printer/walk.txt (a fresh walk of the standard MIBs, bounded in time
// and size by the SNMP client's caps).
func (r *running) bundlePrinter(ctx context.Context, b *bundle) error {
	if r.snmp == nil {
		return b.add("printer/status.json", []byte("null\n"), fmt.Errorf("no SNMP: config snmp is not set"))
	}
	var last *snmp.Reading
	if r.watch != nil {
		r.watch.mu.Lock()
		last = r.watch.last
		r.watch.mu.Unlock()
	}
	if err := b.addJSON("printer/status.json", last, nil); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, bundleWalkTimeout)
	defer cancel()
	values, err := r.snmp.Walk(wctx, snmp.StandardMIBs)
	return b.add("printer/walk.txt", formatWalk(values), err)
}

// formatWalk writes a walk as snmpwalk does, one "OID = value" a line in
// OID order; strings are quoted (Go syntax), so binary values stay on
// their line.
func formatWalk(values map[string]any) []byte {
	oids := make([]string, 0, len(values))
	for o := range values {
		oids = append(oids, o)
	}
	sort.Slice(oids, func(i, j int) bool { return lessOID(oids[i], oids[j]) })
	var sb strings.Builder
	for _, o := range oids {
		switch v := values[o].(type) {
		case string:
			fmt.Fprintf(&sb, "%s = %q\n", o, v)
		default:
			fmt.Fprintf(&sb, "%s = %v\n", o, v)
		}
	}
	return []byte(sb.String())
}

// bundleLogs is logs/: the log files (config log_file), or the recent log
// lines the agent keeps when it has no log file.
func (r *running) bundleLogs(_ context.Context, b *bundle) error {
	var files []string
	if r.opts.LogFiles != nil {
		files = r.opts.LogFiles()
	}
	if len(files) == 0 {
		lines := r.logRing.Lines()
		return b.add("logs/recent.log", []byte(strings.Join(lines, "\n")+"\n"), nil)
	}
	for _, f := range files {
		if err := b.addFile("logs/"+filepath.Base(f), f); err != nil {
			return err
		}
	}
	return nil
}

// lessOID orders OIDs arc by arc, numerically (1.3.6.1.2 before 1.3.6.1.10).
func lessOID(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] == bs[i] {
			continue
		}
		if len(as[i]) != len(bs[i]) {
			return len(as[i]) < len(bs[i])
		}
		return as[i] < bs[i]
	}
	return len(as) < len(bs)
}
