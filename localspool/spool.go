package localspool

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/internal/ippserver"
	"github.com/tessera-print/tessera/release"
)

// Config configures a Spool.
type Config struct {
	Dir     string // spool directory (created 0700)
	KeyFile string // the per-device age identity; created 0600 at first start
	// MaxJobSize bounds one document: 512 MiB when zero. A larger one is
	// refused with client-error-request-entity-too-large and nothing kept.
	MaxJobSize int64
	// Quota bounds the bytes of all spooled files: 2 GiB when zero.
	Quota int64
	// Reserve is the free disk space always left: 256 MiB when zero.
	Reserve int64
	// Expiry is how long a held job waits for release: 7 days when zero.
	Expiry time.Duration
	// Formats is document-format-supported (the printer's, as the agent
	// knows them): application/pdf and application/octet-stream when empty.
	Formats []string
	// Users checks IPP Basic authentication: nil accepts, an error
	// refuses (401), one wrapping ErrAuthUnavailable says the check cannot
	// be made now (503, so the workstation retries rather than asking for
	// a password again). A success is remembered for authCacheTTL. The
	// authenticated user then owns the job and requesting-user-name is
	// ignored for ownership. Nil: no authentication, requesting-user-name
	// names the owner, and a job is visible and cancellable only from the
	// address that submitted it. Basic credentials cross the network in
	// the clear unless the handler is served over TLS (the agent's config
	// refuses ipp_auth without it).
	Users func(ctx context.Context, user, password string) error
	// BodyTimeout cuts a request whose body sends nothing for this long
	// (each byte that arrives extends it), and bounds writing the answer:
	// 30 s when zero.
	BodyTimeout time.Duration
	// Direct, when set, serves /ipp/direct: a queue whose jobs print at
	// once through this callback, one at a time. It returns the
	// impressions printed; the agent charges DirectJob.Owner.
	Direct func(ctx context.Context, j DirectJob) (impressions int, err error)
	// Normalize is the site's user-name rule (release.UserRule: DOMAIN\user,
	// user@realm, case). The Source methods compare a job's owner and the
	// name they are given through it, both sides, so a name reaches them
	// normalised or not. Nil: names are compared as they are.
	Normalize func(user string) string
	// Operator reports whether an authenticated user may see and cancel
	// every job over IPP (a requesting-user-name is anyone's word, so it
	// never makes an operator). Nil: nobody may.
	Operator func(user string) bool
	Logger   *slog.Logger
	// Clock is the queue's time, the janitor's ticker included (nil: the
	// system's).
	Clock clock.Clock
	// Now, if set, reads the time instead of Clock.Now (the agent's
	// clock.Floor).
	Now func() time.Time
}

// DirectJob is a job sent to /ipp/direct, handed to Config.Direct.
type DirectJob struct {
	Owner, Name, Format string
	Copies              int
	Color, Duplex       bool
	Size                int64     // bytes of Body
	Pages               int       // pages of a PDF; 0: unknown
	Body                io.Reader // decrypted as it is read; an error means truncation or tampering
}

const (
	defaultMaxJobSize  = 512 << 20
	defaultQuota       = 2 << 30
	defaultReserve     = 256 << 20
	defaultExpiry      = 7 * 24 * time.Hour
	defaultBodyTimeout = 30 * time.Second
	// maxHistory bounds the finished jobs remembered for Get-Jobs.
	maxHistory = 500
	// maxActive bounds the jobs not yet finished (held, waiting for a
	// document or printing): a flood of tiny jobs must not exhaust memory
	// long before it reaches the quota.
	maxActive = 10000
	// documentTimeout is multiple-operation-time-out: how long a
	// Create-Job waits for its Send-Document.
	documentTimeout = 5 * time.Minute
	makeAndModel    = "Tessera"
)

// ErrNotFound is returned for a job that does not exist, is not held, or
// belongs to someone else (the three are not told apart).
var ErrNotFound = errors.New("no such held job")

const (
	queuePrint  = "print"
	queueDirect = "direct"
)

// IPP job states (RFC 8011 5.3.7).
const (
	statePending    = 3
	stateHeld       = 4
	stateProcessing = 5
	stateCanceled   = 7
	stateAborted    = 8
	stateCompleted  = 9
)

// job is a job of either queue, from Create-Job to its end.
type job struct {
	m       meta
	queue   string
	state   int
	reason  string // job-state-reasons
	message string // job-state-message
	created time.Time
	// received is the Clock's reading when a job came in this run (zero
	// for one loaded from disk): its age then is measured on the Clock,
	// whatever is done to the wall clock meanwhile.
	received    time.Time
	processing  time.Time
	completed   time.Time
	impressions int
	disk        int64              // bytes of its files while held
	readers     int                // documents Open has handed out, not yet closed
	cancel      context.CancelFunc // a direct job's, while it waits or prints
	tmp         string             // a direct job's encrypted document
	receiving   bool               // Send-Document in progress
	deadline    time.Time          // a Create-Job's wait for its document
}

// Spool is the local job spool and its IPP endpoint. It is safe for
// concurrent use.
type Spool struct {
	cfg          Config
	log          *slog.Logger
	now          func() time.Time
	identity     *age.X25519Identity
	recipient    *age.X25519Recipient
	started      time.Time
	uuid         string
	freeSpace    func() (int64, error)
	janitorEvery time.Duration
	auth         *ippserver.AuthCache

	ctx  context.Context // direct jobs run under it; Close cancels it
	stop context.CancelFunc
	wg   sync.WaitGroup
	slot chan struct{} // one direct job prints at a time

	mu       sync.Mutex
	jobs     map[int]*job    // by IPP job-id
	held     map[string]*job // held jobs by Source id
	finished []int           // job-ids of finished jobs, oldest first
	nextID   int
	used     int64 // bytes of committed files
	inflight int64 // bytes being received or awaiting a direct print
}

// New opens (or creates) the spool in cfg.Dir with the key in cfg.KeyFile
// and loads the jobs held there.
func New(cfg Config) (*Spool, error) {
	if cfg.Dir == "" || cfg.KeyFile == "" {
		return nil, errors.New("local spool: Dir and KeyFile are required")
	}
	if cfg.MaxJobSize <= 0 {
		cfg.MaxJobSize = defaultMaxJobSize
	}
	if cfg.Quota <= 0 {
		cfg.Quota = defaultQuota
	}
	if cfg.Reserve <= 0 {
		cfg.Reserve = defaultReserve
	}
	if cfg.Expiry <= 0 {
		cfg.Expiry = defaultExpiry
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = defaultBodyTimeout
	}
	if len(cfg.Formats) == 0 {
		cfg.Formats = []string{"application/pdf", "application/octet-stream"}
	}
	cfg.Formats = slices.Clone(cfg.Formats)
	for i, f := range cfg.Formats {
		cfg.Formats[i] = strings.ToLower(f)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Clock = clock.OrReal(cfg.Clock)
	if cfg.Now == nil {
		cfg.Now = cfg.Clock.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("local spool: %w", err)
	}
	if fi, err := os.Stat(cfg.Dir); err != nil {
		return nil, fmt.Errorf("local spool: %w", err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("local spool: %w", err)
		}
	}
	id, err := loadOrCreateKey(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("local spool: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Spool{
		cfg: cfg, log: cfg.Logger, now: cfg.Now, identity: id, recipient: id.Recipient(),
		janitorEvery: min(time.Minute, max(cfg.Expiry/4, time.Second)),
		ctx:          ctx, stop: stop, slot: make(chan struct{}, 1),
		jobs: map[int]*job{}, held: map[string]*job{}, nextID: 1, auth: ippserver.NewAuthCache(cfg.Clock.Now, authCacheTTL, authCacheMax),
	}
	s.freeSpace = func() (int64, error) { return statfsFree(cfg.Dir) }
	s.started = s.now()
	// Stable across restarts of the same spool and key, as a device's is.
	h := sha256.Sum256([]byte("tessera-local-spool\x00" + id.Recipient().String()))
	s.uuid = fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	if err := s.load(); err != nil {
		stop()
		return nil, fmt.Errorf("local spool: %w", err)
	}
	s.log.Info("local spool open", "dir", cfg.Dir, "held", len(s.held), "bytes", s.used)
	return s, nil
}

// Close cancels the direct jobs still waiting or printing and waits for
// them to end. Held jobs stay on disk.
func (s *Spool) Close() error {
	s.stop()
	s.wg.Wait()
	return nil
}

// Run is the janitor: it deletes held jobs older than Expiry (and
// Create-Jobs whose document never came) until ctx ends.
func (s *Spool) Run(ctx context.Context) {
	t, tick := s.cfg.Clock.NewTicker(s.janitorEvery)
	defer t.Stop()
	for {
		s.sweep()
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

// sweep is one pass of the janitor.
func (s *Spool) sweep() {
	now := s.now()
	s.mu.Lock()
	var expired []*job
	for _, j := range s.jobs {
		switch {
		case j.state == stateHeld && j.readers == 0 && s.age(j, now) >= s.cfg.Expiry:
			expired = append(expired, j)
		case j.state == statePending && !j.receiving && !j.deadline.IsZero() && now.After(j.deadline):
			s.finish(j, stateAborted, "aborted-by-system", "No document arrived.")
		}
	}
	s.mu.Unlock()
	for _, j := range expired {
		if err := s.drop(j, true, stateCanceled, "job-canceled-at-device", "Expired: not released in time."); err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // released, deleted or opened meanwhile
			}
			s.log.Error("cannot delete an expired job", "job", j.m.ID, "err", err)
			continue
		}
		s.log.Info("held job expired", "job", j.m.ID, "job_id", j.m.JobID, "age", s.age(j, now).Round(time.Second))
	}
}

// age is how long j has been held. A job received in this run is timed on
// the Clock (the system's is monotonic): a wall clock stepped ahead, as
// NTP does on a box that started without a real-time clock, must not make
// a new job look old and delete it. One from an earlier run has only its
// wall-clock date; now (the agent's clock.Floor) never reads before the
// time last known, so a clock behind cannot make it look older either.
func (s *Spool) age(j *job, now time.Time) time.Duration {
	if !j.received.IsZero() {
		return s.cfg.Clock.Since(j.received)
	}
	return now.Sub(j.created)
}

// finish ends a job and remembers it for Get-Jobs. s.mu is held.
func (s *Spool) finish(j *job, state int, reason, message string) {
	j.state, j.reason, j.message, j.completed = state, reason, message, s.now()
	if j.processing.IsZero() && state == stateCompleted {
		j.processing = j.completed
	}
	if s.held[j.m.ID] == j {
		delete(s.held, j.m.ID)
	}
	s.finished = append(s.finished, j.m.JobID)
	if len(s.finished) > maxHistory {
		for _, id := range s.finished[:len(s.finished)-maxHistory] {
			delete(s.jobs, id)
		}
		s.finished = slices.Delete(s.finished, 0, len(s.finished)-maxHistory)
	}
}

// drop removes a held job's files and finishes it with state. It fails
// with ErrNotFound if the job is no longer held, or, when idle is set, if
// a document Open handed out is still being read.
func (s *Spool) drop(j *job, idle bool, state int, reason, message string) error {
	s.mu.Lock()
	if j.state != stateHeld || s.held[j.m.ID] != j || (idle && j.readers > 0) {
		s.mu.Unlock()
		return ErrNotFound
	}
	// Marked first so that no one Opens or drops it meanwhile.
	delete(s.held, j.m.ID)
	s.mu.Unlock()
	err := s.remove(j.m.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.held[j.m.ID] = j
		return fmt.Errorf("delete job %s: %w", j.m.ID, err)
	}
	s.used -= j.disk
	j.disk = 0
	s.finish(j, state, reason, message)
	return nil
}

func (s *Spool) normalize(user string) string {
	if s.cfg.Normalize != nil {
		return s.cfg.Normalize(user)
	}
	return user
}

func (s *Spool) sameUser(owner, user string) bool {
	return user != "" && s.normalize(owner) == s.normalize(user)
}

// isOperator reports whether an authenticated user is an operator.
func (s *Spool) isOperator(user string) bool {
	return user != "" && s.cfg.Users != nil && s.cfg.Operator != nil && s.cfg.Operator(user)
}

// Name is the spool's prefix in job ids.
func (s *Spool) Name() string { return "local" }

// List returns username's held jobs, oldest first; an empty username lists
// every held job.
func (s *Spool) List(ctx context.Context, username string) ([]release.Held, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []release.Held
	for _, j := range s.held {
		if username != "" && !s.sameUser(j.m.Owner, username) {
			continue
		}
		out = append(out, j.held())
	}
	slices.SortFunc(out, func(a, b release.Held) int {
		if c := a.SubmittedAt.Compare(b.SubmittedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (j *job) held() release.Held {
	return release.Held{
		ID: j.m.ID, Name: j.m.Name, Owner: j.m.Owner, Pages: j.m.Pages, Copies: j.m.Copies,
		Color: j.m.ColorMode != "monochrome", Duplex: j.m.Sides != "one-sided",
		Format: j.m.Format, Size: j.m.Size, SubmittedAt: j.m.Created, Media: j.m.Media,
	}
}

// lookup finds username's held job id. s.mu is held.
func (s *Spool) lookup(id, username string) (*job, error) {
	j, ok := s.held[id]
	if !ok || !s.sameUser(j.m.Owner, username) {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	return j, nil
}

// Open streams a held job's document, decrypting as it is read: a
// truncated or tampered file is an error from Read.
func (s *Spool) Open(ctx context.Context, id, username string) (*release.Document, error) {
	s.mu.Lock()
	j, err := s.lookup(id, username)
	if err == nil {
		j.readers++ // the janitor leaves a job being printed alone
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	body, err := s.openDocument(s.docPath(id))
	if err != nil {
		s.mu.Lock()
		j.readers--
		s.mu.Unlock()
		return nil, fmt.Errorf("open job %s: %w", id, err)
	}
	return &release.Document{
		Body: &closeFunc{ReadCloser: body, after: func() {
			s.mu.Lock()
			j.readers--
			s.mu.Unlock()
		}},
		Size: j.m.Size, Format: j.m.Format,
	}, nil
}

// Printed removes a printed job, or leaves it held when keep is set.
func (s *Spool) Printed(ctx context.Context, id, username string, keep bool) error {
	s.mu.Lock()
	j, err := s.lookup(id, username)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("printed: %w", err)
	}
	if keep {
		s.log.Info("held job printed and kept", "job", id, "job_id", j.m.JobID)
		return nil
	}
	if err := s.drop(j, false, stateCompleted, "job-completed-successfully", "Printed."); err != nil {
		return fmt.Errorf("printed: %w", err)
	}
	s.mu.Lock()
	j.impressions = j.m.Pages * j.m.Copies
	s.mu.Unlock()
	s.log.Info("held job printed", "job", id, "job_id", j.m.JobID)
	return nil
}

// Delete removes a held job at its owner's request.
func (s *Spool) Delete(ctx context.Context, id, username string) error {
	s.mu.Lock()
	j, err := s.lookup(id, username)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := s.drop(j, false, stateCanceled, "job-canceled-by-user", "Deleted by its owner."); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	s.log.Info("held job deleted", "job", id, "job_id", j.m.JobID)
	return nil
}

// closeFunc runs after once the ReadCloser is closed.
type closeFunc struct {
	io.ReadCloser
	after func()
	once  sync.Once
}

func (c *closeFunc) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(c.after)
	return err
}

// openDocument opens an encrypted document for streaming.
func (s *Spool) openDocument(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(f, s.identity)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileReader{Reader: r, f: f}, nil
}

type fileReader struct {
	io.Reader
	f *os.File
}

func (r *fileReader) Close() error { return r.f.Close() }
