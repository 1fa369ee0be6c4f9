package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrUnavailable is wrapped by the errors of StartPostgresMain when
// PostgreSQL is not installed here (or cannot run here), as opposed to
// installed and failing.
var ErrUnavailable = errors.New("component unavailable")

const (
	// pgBinDir is where Debian keeps PostgreSQL 15's programs: out of
	// PATH, in a folder per major version.
	pgBinDir = "/usr/lib/postgresql/15/bin"
	// pgUser is the cluster's superuser; -A trust lets it in without a
	// password, which is acceptable on a loopback-only test cluster.
	pgUser = "tessera"
	// pgMaxConnections leaves room for several hub nodes, each with a
	// pool, plus the tests' own connections (the default is 100).
	pgMaxConnections = 300
	// pgDirPrefix names the clusters' folders in the temp dir, followed
	// by the test binary's PID, so a later run can tell leftovers of a
	// killed binary (see removeStale).
	pgDirPrefix = "tessera-testenv-pg-"
	// pgReadyTimeout bounds a start, crash recovery after Kill included.
	pgReadyTimeout = 60 * time.Second
)

// Postgres is a private PostgreSQL 15 cluster (RECIPES.md §8) on a loopback
// port, with a superuser "tessera" that needs no password.
//
// Traps beyond RECIPES.md:
//   - The server binary runs as a child of the test (not through pg_ctl,
//     which daemonises it), with a parent-death signal: a test binary that
//     is killed takes its cluster along (SIGQUIT, PostgreSQL's immediate
//     shutdown, which also ends the server's own children). Only its
//     folder stays behind, removed by the next start in any test binary.
//   - As root, initdb and the server run as user postgres, and the
//     cluster's folder belongs to postgres (the server refuses a data
//     directory it does not own).
//   - No Unix socket (unix_socket_directories is empty): a socket path in
//     a long temp dir passes the 107-byte limit, and clients use TCP.
//   - A killed postmaster (SIGKILL) leaves its backends holding the shared
//     memory, and a new server refuses that data directory until they
//     exit: Kill sends SIGQUIT instead, which is what `pg_ctl -m
//     immediate stop` sends, a crash as far as the data is concerned.
//   - CREATE DATABASE cannot run in a transaction: NewDatabase sends it
//     alone, over the simple protocol.
//   - The server's fsync stays on (only initdb runs with --no-sync):
//     tests check durability.
type Postgres struct {
	// Port is the server's port on 127.0.0.1; Restart and Start keep it.
	Port int

	bin  string              // the folder of initdb and postgres
	dir  string              // the cluster's folder: data/ and postgres.log
	cred *syscall.Credential // user postgres's, as root; nil: run as self
	err  error               // why StartPostgresMain has no cluster

	mu     sync.Mutex
	cmd    *exec.Cmd     // the running server; nil when stopped
	exited chan struct{} // closed once cmd has exited
}

// StartPostgres starts a private cluster for one test, stopped and removed
// when the test ends. It costs about half a second (a copy of a data
// directory initdb'd once per machine, then the server's start); a
// package whose tests each need a database, not a cluster, starts one in
// TestMain with StartPostgresMain. A missing PostgreSQL ends the test (see
// Unavailable).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p, err := startPostgres()
	if errors.Is(err, ErrUnavailable) {
		Unavailable(t, "%v", err)
	}
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("PostgreSQL log:\n%s", tail(p.Log(), 10000))
		}
		if err := p.close(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	return p
}

// StartPostgresMain starts one cluster for a whole test binary, from
// TestMain, where there is no testing.TB:
//
//	func TestMain(m *testing.M) {
//		pg, stop, err := testenv.StartPostgresMain()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err) // each NewDatabase will say it again
//		}
//		sharedPG = pg
//		code := m.Run()
//		stop()
//		os.Exit(code)
//	}
//
// It never returns a nil *Postgres nor a nil stop: when the cluster could
// not start, err says why and the returned Postgres's NewDatabase ends
// each test that asks for a database (a skip or, in CI or when PostgreSQL
// is installed but failed, a failure), so that the tests not needing one
// still run. Tests sharing this cluster must not Restart or Kill it:
// those start their own with StartPostgres.
func StartPostgresMain() (*Postgres, func(), error) {
	p, err := startPostgres()
	if err != nil {
		return &Postgres{err: err}, func() {}, err
	}
	stop := func() {
		if err := p.close(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop PostgreSQL: %v\n", err)
		}
	}
	return p, stop, nil
}

// NewDatabase creates an empty database with a unique name and returns its
// DSN for pgx, postgres://tessera@127.0.0.1:PORT/NAME?sslmode=disable. It
// is dropped when the test ends (connections still open are ended; a
// server that is down by then is ignored).
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	return p.newDatabase(t, "")
}

// NewDatabaseFrom is NewDatabase with a copy of template, a database made
// by Template, instead of an empty one.
func (p *Postgres) NewDatabaseFrom(t testing.TB, template string) string {
	t.Helper()
	return p.newDatabase(t, template)
}

func (p *Postgres) newDatabase(t testing.TB, template string) string {
	t.Helper()
	if p.err != nil {
		if errors.Is(p.err, ErrUnavailable) {
			Unavailable(t, "%v", p.err)
		}
		t.Fatalf("PostgreSQL did not start: %v", p.err)
	}
	name := databaseName(t.Name())
	ident := pgx.Identifier{name}.Sanitize()
	stmt := "CREATE DATABASE " + ident
	if template != "" {
		stmt += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.admin(ctx, stmt); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.admin(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
	})
	return p.dsn(name)
}

// Template creates a database called name and runs setup on its DSN (a
// package's migrations, say), for NewDatabaseFrom to copy: a copy costs
// what an empty database does, so each test gets a prepared database
// without preparing it again. It needs no testing.TB: TestMain can call
// it after StartPostgresMain. PostgreSQL copies a database only while
// nobody is connected to it, so once setup returns its connections still
// open are ended and no new ones are allowed. The template lasts as long
// as the cluster.
func (p *Postgres) Template(name string, setup func(dsn string) error) error {
	if p.err != nil {
		return p.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ident := pgx.Identifier{name}.Sanitize()
	if err := p.admin(ctx, "CREATE DATABASE "+ident); err != nil {
		return fmt.Errorf("create template %s: %w", name, err)
	}
	if err := setup(p.dsn(name)); err != nil {
		return fmt.Errorf("set up template %s: %w", name, err)
	}
	if err := p.admin(ctx, "ALTER DATABASE "+ident+" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"); err != nil {
		return fmt.Errorf("close template %s: %w", name, err)
	}
	// Wait (up to 5 s each) for the sessions to end: CREATE DATABASE
	// gives up when others are still in the template after 5 s.
	if err := p.admin(ctx, "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
		return fmt.Errorf("end the sessions in template %s: %w", name, err)
	}
	return nil
}

// Restart stops the server with a fast shutdown (what `pg_ctl -m fast
// restart` does: sessions are ended, a checkpoint is written) and starts
// it again on the same port with the same data. It returns once the
// server accepts connections.
func (p *Postgres) Restart(t testing.TB) {
	t.Helper()
	if err := p.halt(syscall.SIGINT); err != nil {
		t.Fatalf("PostgreSQL restart: %v", err)
	}
	if err := p.start(); err != nil {
		t.Fatalf("PostgreSQL restart: %v", err)
	}
}

// Kill stops the server at once, as `pg_ctl -m immediate stop` does: no
// checkpoint, sessions cut, the next Start recovers from the WAL as after
// a crash.
func (p *Postgres) Kill(t testing.TB) {
	t.Helper()
	if err := p.halt(syscall.SIGQUIT); err != nil {
		t.Fatalf("PostgreSQL kill: %v", err)
	}
}

// Start starts the server again after Kill, on the same port, and returns
// once it accepts connections (crash recovery done).
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	running := p.cmd != nil
	p.mu.Unlock()
	if running {
		t.Fatalf("PostgreSQL start: already running")
	}
	if err := p.start(); err != nil {
		t.Fatalf("PostgreSQL start: %v", err)
	}
}

// Log returns what the server wrote so far, over all its starts.
func (p *Postgres) Log() string {
	b, _ := os.ReadFile(p.logPath())
	return string(b)
}

func (p *Postgres) dsn(database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", pgUser, p.Port, database)
}

func (p *Postgres) dataDir() string { return filepath.Join(p.dir, "data") }
func (p *Postgres) logPath() string { return filepath.Join(p.dir, "postgres.log") }

// startPostgres creates a cluster and starts its server; on failure it
// leaves nothing behind.
func startPostgres() (*Postgres, error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	removeStale(os.TempDir(), pgDirPrefix)
	dir, err := os.MkdirTemp("", pgDirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL folder: %w", err)
	}
	p := &Postgres{bin: bin, dir: dir, cred: cred}
	if err := p.create(); err != nil {
		_ = p.halt(syscall.SIGQUIT)
		os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

// create makes the data directory (a copy of the machine's initdb'd
// template, see pgTemplate) and starts the server, on a new port at each
// of a few attempts: a port found free can be taken before the server
// binds it.
func (p *Postgres) create() error {
	if err := chownServer(p.dir, p.cred); err != nil {
		return err
	}
	template, err := pgTemplate(p.bin, p.cred)
	if err != nil {
		return err
	}
	// cp -a keeps the owner (postgres) and the modes the server demands.
	if out, err := exec.Command("cp", "-a", template, p.dataDir()).CombinedOutput(); err != nil {
		return fmt.Errorf("copy the initdb'd template %s: %w\n%s", template, err, out)
	}
	for attempt := 0; attempt < 3; attempt++ {
		if p.Port, err = loopbackPort(); err != nil {
			return err
		}
		if err = p.start(); err == nil {
			return nil
		}
	}
	return err
}

// start runs the server and waits until it accepts connections.
func (p *Postgres) start() error {
	logFile, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("PostgreSQL log: %w", err)
	}
	defer logFile.Close() // the server has its own descriptor
	cmd := exec.Command(filepath.Join(p.bin, "postgres"), "-D", p.dataDir(),
		"-p", strconv.Itoa(p.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "max_connections="+strconv.Itoa(pgMaxConnections))
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttr(p.cred, syscall.SIGQUIT)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	return p.waitReady(exited)
}

// waitReady polls until the server answers or exits.
func (p *Postgres) waitReady(exited <-chan struct{}) error {
	var last error
	gone := false
	poll(pgReadyTimeout, func() bool {
		select {
		case <-exited:
			gone = true
			return true
		default:
		}
		last = p.ping()
		return last == nil
	})
	switch {
	case gone:
		p.mu.Lock()
		p.cmd = nil
		p.mu.Unlock()
		return fmt.Errorf("postgres exited on port %d:\n%s", p.Port, tail(p.Log(), 2000))
	case last != nil:
		_ = p.halt(syscall.SIGQUIT)
		return fmt.Errorf("postgres did not accept connections within %v: %w", pgReadyTimeout, last)
	}
	return nil
}

// ping connects to the maintenance database; during start-up and crash
// recovery the server refuses with "the database system is starting up".
func (p *Postgres) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.dsn("postgres"))
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// admin runs one statement on its own connection to the maintenance
// database: a fresh connection, so a Restart in between costs nothing.
func (p *Postgres) admin(ctx context.Context, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, p.dsn("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	// Without arguments pgx uses the simple protocol: one statement, no
	// transaction around it, as CREATE and DROP DATABASE require.
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// halt sends sig to the server (SIGINT: fast shutdown, SIGQUIT:
// immediate) and waits for it to exit, escalating if it lingers.
func (p *Postgres) halt(sig syscall.Signal) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	return fmt.Errorf("postgres did not stop on %v within 30 s", sig)
}

// close stops the server (fast shutdown) and removes the cluster.
func (p *Postgres) close() error {
	err := p.halt(syscall.SIGINT)
	if rmErr := os.RemoveAll(p.dir); rmErr != nil && err == nil {
		err = fmt.Errorf("remove PostgreSQL folder: %w", rmErr)
	}
	return err
}

// postgresBin finds the folder of initdb and postgres.
func postgresBin() (string, error) {
	if _, err := os.Stat(filepath.Join(pgBinDir, "initdb")); err == nil {
		return pgBinDir, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("%w: PostgreSQL 15 is not installed (Debian package postgresql, %s/initdb)", ErrUnavailable, pgBinDir)
}

// serverUser returns the credential to run initdb and the server with:
// PostgreSQL refuses to run as root.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: PostgreSQL refuses root and there is no user postgres to run it as: %v", ErrUnavailable, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user postgres: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user postgres: gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// removeStale removes the folders prefix+PID-* in dir whose test binary
// has ended: a binary that was killed could not remove its cluster.
func removeStale(dir, prefix string) {
	old, _ := filepath.Glob(filepath.Join(dir, prefix+"*"))
	for _, d := range old {
		pidText, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), prefix), "-")
		pid, err := strconv.Atoi(pidText)
		if err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
}

// databaseName makes a unique database name that says which test made
// it: at most 63 bytes (PostgreSQL's limit), lower case, [a-z0-9_].
func databaseName(testName string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 40 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String() + "_" + randomHex(6)
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
