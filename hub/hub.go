package hub

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/offline/verifier"
	"github.com/tessera-print/tessera/protocol"
)

// Config configures a hub.
type Config struct {
	DataDir string // SQLite db, job documents, hub.key, offline.key live here (with Database: nothing; it may be "")
	// Database, when set, is a PostgreSQL DSN (postgres://...): the
	// store is there, shared by every node of the hub, instead of
	// hub.db in DataDir (issue 13).
	Database string
	// SecretsKey seals the secrets every node reads from the database
	// (hub.key, offline.key, the agent CA, the admin token's hash):
	// required with Database, 32 bytes (ReadSecretsKey).
	SecretsKey        []byte
	AdminToken        string        // required, non-empty
	OpenEnrollment    bool          // accept agents that connect without identity
	JobExpiry         time.Duration // default 7*24h; held jobs older than this become "expired"
	MaxUpload         int64         // default 512 MiB
	HeartbeatInterval time.Duration // told to agents in BootResponse; default 30 s
	// CardRegistration lets a person bind an unknown card to themselves at
	// the printer (RegisterCard). Off in a zero Config; the CLI turns it on.
	CardRegistration  bool
	TemporaryValidity time.Duration // lifetime of a "temporary" card or PIN; default 24 h
	PINMinLength      int           // shortest PIN accepted at registration, 4 to 16; default 4
	// LockoutFailures consecutive failed PIN or password verifications of a
	// user lock that user out for LockoutWindow; defaults 5 and 5 minutes.
	LockoutFailures int
	LockoutWindow   time.Duration
	// LoginTTL is how long a login_token lives (see docs/protocol.md).
	LoginTTL time.Duration
	// LogoutGrace is how long after Logout a login_token still takes
	// FetchJob (never past its expiry): the engine fetches after the person
	// released and walked away.
	LogoutGrace time.Duration
	// TaskPendingExpiry is how long a task waits for its agent to take it
	// (its deadline); TaskRunningExpiry how long an agent may keep one in
	// progress. Past them the task is expired. Defaults 7 days and 24 h.
	TaskPendingExpiry time.Duration
	TaskRunningExpiry time.Duration
	// MinAgentVersion refuses at Boot the agents older than it (semver;
	// "": any version), with the reason "version-unsupported: needs
	// MIN or later" (minversion.go).
	MinAgentVersion string
	// Limits bound what one agent, or all together, may ask of the hub.
	Limits Limits
	// IPP are the per-user quotas of the hub's IPP printer (ipp.go).
	IPP IPPLimits
	// CA, when set, signs the client certificates of agents that enroll
	// with a CSR (enroll_request.go); nil: enrollment issues device tokens.
	CA *CA
	// BehindTLSProxy: a proxy in front terminates TLS (serve's
	// --behind-tls-proxy), so the console's cookie is Secure even over
	// the plain HTTP the hub sees.
	BehindTLSProxy bool
	// MaxPending bounds the pending connections (no identity, no open
	// enrollment: they may only Enroll) held at once; default
	// DefaultMaxPending. EnrollFailures wrong organisation codes from one
	// host within EnrollWindow refuse its codes for EnrollWindow; defaults
	// 10 and 10 minutes.
	MaxPending     int
	EnrollFailures int
	EnrollWindow   time.Duration
	// pingTimeout, set by this package's tests only, bounds the ping of
	// an identity's older connection (clone.go); zero: clonePingTimeout.
	pingTimeout time.Duration
	// RecordCaps bound what records on the agent's own authority are charged.
	RecordCaps RecordCaps
	// Verifier is the cost of the offline verifiers of cards and PINs
	// (offline/verifier); zero is verifier.Default. Every agent computes
	// one per offline login, so it is chosen for the slowest agent
	// (docs/benchmarks.md: 102 ms on arm64 under qemu for the default).
	Verifier verifier.Params
	// testVerifier, set by this package's tests only, is a cost below
	// verifier.Min: argon2id at 16 MiB for every card and PIN of every
	// test user made the tests minutes longer under -race.
	testVerifier *verifier.Params
	Logger       *slog.Logger
	// Clock is the hub's time: every decision (expiry, claim lapses, a job
	// left printing in silence) and the janitor's ticker. Nil: the system's.
	Clock clock.Clock
}

// Defaults of Config.
const (
	DefaultJobExpiry         = 7 * 24 * time.Hour
	DefaultMaxUpload         = 512 << 20
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultTemporaryValidity = 24 * time.Hour
	DefaultPINMinLength      = 4
	DefaultLockoutFailures   = 5
	DefaultLockoutWindow     = 5 * time.Minute
	DefaultLoginTTL          = time.Hour
	DefaultLogoutGrace       = 5 * time.Minute
	DefaultTaskPendingExpiry = 7 * 24 * time.Hour
	DefaultTaskRunningExpiry = 24 * time.Hour

	// MaxPINLength is the longest PIN, and the largest PINMinLength.
	MaxPINLength = 16
	// minPINMinLength is the smallest PINMinLength a site may set.
	minPINMinLength = 4

	downloadTokenTTL = 15 * time.Minute
	janitorInterval  = time.Minute
)

// Server is a running hub: its store and its HTTP handler.
type Server struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	db      *store.DB
	key     []byte      // HMAC key of card and PIN lookups
	keys    lookupKeys  // key's id, and the previous key after a rotation (keyrotate.go)
	offline offlineKeys // the site's offline key and verifier parameters (offline.go)
	jobsDir string
	limiter *throttle
	guard   *guard      // the limits on agents (limits.go)
	enroll  *enrollment // pending connections and the enrollment throttle (enroll_conn.go)
	// dummyHash is verified against when a username is unknown, so that a
	// wrong username costs what a wrong password costs.
	dummyHash func() (string, error)
	handler   http.Handler
	adminHash []byte // SHA-256 of the admin token (adminOK)
	// nodeConn holds this node's lock on PostgreSQL (cluster_presence.go).
	nodeMu   sync.Mutex
	nodeConn *sql.Conn
	upgrader *websocket.Upgrader // of agent connections (upgrade.go)

	ctx    context.Context // ends at Close; agent connections run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	connMu sync.Mutex
	conns  map[string]*agentConn // booted connections by agent id
	// usersKick wakes announceUsers (usersync.go) after a write.
	usersKick chan struct{}
	absent    *absence // how long agents have been gone, on the monotonic clock
	// presence writes the agents' soft state behind (presence.go).
	presence *presence
	// commit groups the durable writes of Boots (presence_commit.go).
	commit *committer
	// boots bounds the connections not booted yet (admission.go).
	boots *bootGate
	// binders: the running connections that bound an id (presence_bind.go).
	binders *binders
	// run names this run of the hub: a lease granted in it measures its
	// time on the monotonic clock too (leases.go).
	run string
	// ipp is the state of the IPP printer at /ipp/print (ipp.go).
	ipp ippPrinter

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the hub's data directory and starts its
// janitor. Close releases it.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	// On PostgreSQL the documents are in the database (documents.go) and
	// the node needs no directory at all.
	jobsDir := ""
	if cfg.Database == "" {
		jobsDir = filepath.Join(cfg.DataDir, "jobs")
		if err := os.MkdirAll(jobsDir, 0o700); err != nil {
			return nil, fmt.Errorf("hub: data directory: %w", err)
		}
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	sec, err := loadSecrets(ctx, cfg, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("hub: %w", err)
	}
	offline, err := newOfflineKeys(sec.offlineKey, cfg.Verifier)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("hub: %w", err)
	}
	cfg.CA = sec.ca
	s := newServer(cfg, sec.hubKey, offline, db, jobsDir)
	s.adminHash = sec.adminHash
	s.keys = newLookupKeys(sec.hubKey, sec.prevHubKey)
	if err := s.recordKeyID(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("hub: %w", err)
	}
	if err := s.restartSyncOnNewTerms(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("hub: %w", err)
	}
	if err := s.settleLeftovers(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("hub: %w", err)
	}
	if cfg.OpenEnrollment {
		s.log.Warn("open enrollment: agents connecting without a device token are accepted")
	}
	s.handler = s.routes()
	if db.Engine() == store.Postgres {
		if err := s.holdNodeLock(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("hub: %w", err)
		}
	}
	s.wg.Add(4)
	go s.janitor()
	go s.announceUsers()
	go s.listenCluster()
	go s.renewPresence()
	return s, nil
}

// newServer wires a Server over its open store; Open starts it.
func newServer(cfg Config, key []byte, offline offlineKeys, db *store.DB, jobsDir string) *Server {
	sctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		now:       cfg.Clock.Now,
		db:        db,
		key:       key,
		keys:      newLookupKeys(key, nil),
		offline:   offline,
		jobsDir:   jobsDir,
		usersKick: make(chan struct{}, 1),
		upgrader:  newUpgrader(),
		limiter:   &throttle{key: key, db: db, now: cfg.Clock.Now, limit: cfg.LockoutFailures, window: cfg.LockoutWindow},
		guard:     newGuard(cfg.Limits, cfg.Clock, key, db),
		enroll:    newEnrollment(cfg, key, db),
		dummyHash: sync.OnceValues(func() (string, error) {
			pw, err := randomToken()
			if err != nil {
				return "", err
			}
			return hashSecret(pw)
		}),
		ctx:      sctx,
		cancel:   cancel,
		conns:    map[string]*agentConn{},
		absent:   newAbsence(cfg.Clock),
		presence: newPresence(db, cfg.Logger),
		commit:   newCommitter(db),
		boots:    newBootGate(maxBooting(cfg.Limits.MaxBooting, db.Engine()), cfg.Limits.BootWait, cfg.Clock),
		binders:  newBinders(),
		run:      rand.Text(),
		ipp:      newIPPPrinter(cfg),
	}
}

// withDefaults fills the zero fields of cfg with their defaults and refuses
// values the hub cannot run with.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.DataDir == "" && cfg.Database == "" {
		return cfg, errors.New("hub: DataDir is required")
	}
	if strings.TrimSpace(cfg.AdminToken) == "" && cfg.Database == "" {
		// On PostgreSQL a node may start without it: the database holds
		// the hash of the one the first node was given.
		return cfg, errors.New("hub: AdminToken is required")
	}
	if cfg.Database != "" && len(cfg.SecretsKey) != SecretsKeySize {
		return cfg, fmt.Errorf("hub: a hub on PostgreSQL needs its secrets key (%d bytes; --secrets-key-file)", SecretsKeySize)
	}
	if cfg.JobExpiry <= 0 {
		cfg.JobExpiry = DefaultJobExpiry
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.TemporaryValidity <= 0 {
		cfg.TemporaryValidity = DefaultTemporaryValidity
	}
	if cfg.PINMinLength == 0 {
		cfg.PINMinLength = DefaultPINMinLength
	}
	if cfg.PINMinLength < minPINMinLength || cfg.PINMinLength > MaxPINLength {
		return cfg, fmt.Errorf("hub: PINMinLength %d: want %d to %d", cfg.PINMinLength, minPINMinLength, MaxPINLength)
	}
	if cfg.LockoutFailures <= 0 {
		cfg.LockoutFailures = DefaultLockoutFailures
	}
	if cfg.LockoutWindow <= 0 {
		cfg.LockoutWindow = DefaultLockoutWindow
	}
	if cfg.LoginTTL <= 0 {
		cfg.LoginTTL = DefaultLoginTTL
	}
	if cfg.LogoutGrace <= 0 {
		cfg.LogoutGrace = DefaultLogoutGrace
	}
	if cfg.TaskPendingExpiry <= 0 {
		cfg.TaskPendingExpiry = DefaultTaskPendingExpiry
	}
	if cfg.TaskRunningExpiry <= 0 {
		cfg.TaskRunningExpiry = DefaultTaskRunningExpiry
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Clock = clock.OrReal(cfg.Clock)
	cfg.Limits = cfg.Limits.withDefaults()
	cfg = cfg.enrollDefaults()
	if cfg.Verifier == (verifier.Params{}) {
		cfg.Verifier = verifier.Default
	}
	if err := cfg.Verifier.Validate(); err != nil {
		return cfg, fmt.Errorf("hub: %w", err)
	}
	if cfg.testVerifier != nil {
		cfg.Verifier = *cfg.testVerifier
	}
	return cfg, nil
}

// settleLeftovers puts right, at start, what a crash or an upgrade left,
// then runs a first housekeeping round.
func (s *Server) settleLeftovers(ctx context.Context) error {
	// No agent is connected to a hub that just started; rows saying
	// otherwise are left over from a crash.
	if _, err := s.db.ExecContext(ctx, "UPDATE agents SET connected = 0 WHERE connected != 0"); err != nil {
		return fmt.Errorf("reset agent connections: %w", err)
	}
	s.removeStaleUploads()
	// Jobs printing since before claims were heard of at no known time:
	// their printingOverdue bound starts now.
	if _, err := s.db.ExecContext(ctx, "UPDATE jobs SET heard_at = ? WHERE state = ? AND heard_at IS NULL",
		nanos(s.now()), statePrinting); err != nil {
		return fmt.Errorf("printing jobs: %w", err)
	}
	return s.housekeeping(ctx)
}

// Handler is the hub's whole HTTP surface: admin API, agent websocket,
// document downloads and /healthz.
func (s *Server) Handler() http.Handler { return s.handler }

// Close ends agent connections, stops the janitor and closes the database.
// It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		// Cancelled under connMu so that serveAgent either sees the cancel
		// or has added itself to the wait group before Wait starts.
		s.connMu.Lock()
		s.cancel()
		s.connMu.Unlock()
		s.wg.Wait()
		// After the connections ended: their disconnects are pending. Lost,
		// they cost nothing: the next start marks every agent disconnected.
		if err := s.presence.close(); err != nil {
			s.log.Error("write agents' presence at close", "err", err)
		}
		s.commit.close()
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("hub: close database: %w", err)
		}
	})
	return s.closeErr
}

func (s *Server) routes() http.Handler {
	rt := newRouter()
	adm := s.admin
	rt.handle(http.MethodGet, "/healthz", http.HandlerFunc(s.healthz), nil)

	rt.handle(http.MethodPost, "/api/v1/users", s.api(s.createUser), adm)
	rt.handleUnder(http.MethodPost, "/api/v1/users/import", s.api(s.importUsers), adm)
	rt.handle(http.MethodGet, "/api/v1/users/{username}", s.api(s.getUser), adm)
	rt.handle(http.MethodPut, "/api/v1/users/{username}", s.api(s.updateUser), adm)
	rt.handle(http.MethodDelete, "/api/v1/users/{username}", s.api(s.deleteUser), adm)
	rt.handle(http.MethodPost, "/api/v1/users/{username}/quota", s.api(s.changeQuota), adm)
	rt.handle(http.MethodPost, "/api/v1/users/{username}/print-tokens", s.api(s.createPrintToken), adm)
	rt.handle(http.MethodGet, "/api/v1/users/{username}/print-tokens", s.api(s.listPrintTokens), adm)
	rt.handle(http.MethodDelete, "/api/v1/users/{username}/print-tokens/{id}", s.api(s.revokePrintToken), adm)

	rt.handle(http.MethodPost, "/api/v1/jobs", s.api(s.uploadJob), adm)
	rt.handle(http.MethodGet, "/api/v1/jobs", s.api(s.listJobs), adm)
	rt.handle(http.MethodGet, "/api/v1/jobs/{id}", s.api(s.getJob), adm)
	rt.handle(http.MethodDelete, "/api/v1/jobs/{id}", s.api(s.deleteJob), adm)

	rt.handle(http.MethodGet, "/api/v1/accounting", s.api(s.listAccounting), adm)
	rt.handle(http.MethodGet, "/api/v1/agents", s.api(s.listAgents), adm)
	rt.handle(http.MethodPost, "/api/v1/agents", s.api(s.addAgent), adm)
	rt.handleUnder(http.MethodPost, "/api/v1/agents/claim", s.api(s.claimAgent), adm)
	rt.handle(http.MethodPatch, "/api/v1/agents/{id}", s.api(s.updateAgent), adm)
	rt.handle(http.MethodPut, "/api/v1/agents/{id}", s.api(s.updateAgent), adm)
	rt.handle(http.MethodPost, "/api/v1/enrollment-codes", s.api(s.createEnrollmentCode), adm)
	rt.handle(http.MethodGet, "/api/v1/enrollment-codes", s.api(s.listEnrollmentCodes), adm)
	rt.handle(http.MethodDelete, "/api/v1/enrollment-codes/{id}", s.api(s.deleteEnrollmentCode), adm)
	rt.handle(http.MethodGet, "/api/v1/printer-events", s.api(s.listPrinterEvents), adm)
	rt.handle(http.MethodGet, "/api/v1/alerts", s.api(s.listAlerts), adm)
	rt.handle(http.MethodGet, "/api/v1/settings", s.api(s.getSettings), adm)
	rt.handle(http.MethodPut, "/api/v1/settings", s.api(s.putSettings), adm)
	rt.handle(http.MethodPost, "/api/v1/tasks", s.api(s.createTasks), adm)
	rt.handle(http.MethodGet, "/api/v1/tasks", s.api(s.listTasks), adm)
	rt.handle(http.MethodGet, "/api/v1/tasks/{id}", s.api(s.getTask), adm)
	rt.handle(http.MethodPost, "/api/v1/tasks/{id}/stop", s.api(s.stopTask), adm)
	rt.handle(http.MethodPost, "/api/v1/admins", s.api(s.createAdmin), adm)
	rt.handle(http.MethodGet, "/api/v1/admins", s.api(s.listAdmins), adm)
	rt.handle(http.MethodDelete, "/api/v1/admins/{username}", s.api(s.deleteAdmin), adm)
	rt.handle(http.MethodGet, "/api/v1/audit", s.api(s.listAudit), adm)

	rt.handle(http.MethodGet, "/admin", http.HandlerFunc(s.serveConsole), nil)
	rt.handle(http.MethodPost, "/admin/login", http.HandlerFunc(s.consoleLogin), nil)
	rt.handle(http.MethodPost, "/admin/logout", http.HandlerFunc(s.consoleLogout), nil)
	rt.handle(http.MethodGet, "/admin/session", s.api(s.getConsoleSession), nil)
	rt.handle(http.MethodGet, "/admin/static/{file}", http.HandlerFunc(serveConsoleFile), nil)

	rt.handle(http.MethodPost, ippPath, http.HandlerFunc(s.serveIPP), nil)
	rt.handle(http.MethodPost, ippPath+"/{id}", http.HandlerFunc(s.serveIPP), nil)

	rt.handle(http.MethodGet, protocol.QRLoginPath+"{code}", http.HandlerFunc(s.serveQRPage), nil)
	rt.handle(http.MethodPost, protocol.QRLoginPath+"{code}", qrForm(s.signInQR), nil)
	rt.handle(http.MethodGet, "/claim", http.HandlerFunc(s.serveClaimPage), nil)
	rt.handle(http.MethodPost, "/claim", http.HandlerFunc(s.claimByPage), nil)
	rt.handle(http.MethodGet, protocol.AgentPath, http.HandlerFunc(s.serveAgent), nil)
	rt.handle(http.MethodGet, "/agent/v1/jobs/{id}/document", s.api(s.serveDocument), nil)

	mux := rt.finish()
	notFound := s.api(func(w http.ResponseWriter, r *http.Request) error {
		return errNotFound("no such endpoint: %s", r.URL.Path)
	})
	// Unknown admin paths need the token too, so they reveal nothing.
	mux.Handle("/api/", adm(notFound))
	mux.Handle("/", notFound)
	return mux
}

// janitor runs housekeeping every minute.
func (s *Server) janitor() {
	defer s.wg.Done()
	t, tick := s.cfg.Clock.NewTicker(janitorInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick:
			// Once across the nodes of a hub on PostgreSQL (cluster.go).
			_, err := s.db.TryLock(s.ctx, janitorLock, s.housekeeping)
			if err != nil && s.ctx.Err() == nil {
				s.log.Error("janitor", "err", err)
			}
			s.catchUpTasks(s.ctx)
		}
	}
}

// housekeeping is the janitor's round, on the hub's clock: it expires old
// jobs, settles jobs left printing in silence (printingOverdue) and purges
// what is no longer needed.
func (s *Server) housekeeping(ctx context.Context) error {
	if err := s.expire(ctx); err != nil {
		return err
	}
	if err := s.settleSilentJobs(ctx, ""); err != nil {
		return fmt.Errorf("settle silent printing jobs: %w", err)
	}
	if err := s.expireTasks(ctx); err != nil {
		return err
	}
	if err := s.purgeEnrollment(ctx); err != nil {
		return err
	}
	return s.purgeClaims(ctx)
}

// expire marks held and failed jobs older than JobExpiry expired and removes
// their documents; it also drops download tokens past their expiry.
func (s *Server) expire(ctx context.Context) error {
	now := s.now()
	cutoff := now.Add(-s.cfg.JobExpiry)
	var ids []string
	err := s.inTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.QueryContext(ctx,
			`UPDATE jobs SET state = ?, reason = 'expired'
			 WHERE state IN (?, ?) AND submitted_at < ? RETURNING id`,
			stateExpired, stateHeld, stateFailed, nanos(cutoff))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("expire jobs: %w", err)
	}
	for _, id := range ids {
		s.removeDocument(id)
	}
	if len(ids) > 0 {
		s.log.Info("jobs expired", "count", len(ids))
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM download_tokens WHERE expires_at < ?", nanos(now)); err != nil {
		return fmt.Errorf("purge download tokens: %w", err)
	}
	if err := s.limiter.purge(ctx); err != nil {
		return err
	}
	if err := s.guard.agents.purge(ctx); err != nil {
		return err
	}
	if err := s.purgeSessions(ctx); err != nil {
		return err
	}
	return s.purgeLoginTokens(ctx)
}

// removeStaleUploads deletes temporary upload files a crash left behind.
func (s *Server) removeStaleUploads() {
	if s.jobsDir == "" {
		return // on PostgreSQL: sweepUploads
	}
	matches, _ := filepath.Glob(filepath.Join(s.jobsDir, ".upload-*"))
	for _, m := range matches {
		_ = os.Remove(m)
	}
}
