package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/cardreader/cardnum"
	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// Session states, as the panel API names them.
const (
	StateIdle            = "idle"
	StatePINRequired     = "pin-required"
	StateRegisterOffered = "register-offered"
	StateActive          = "active"
	StateLocked          = "locked"
)

// Notice is a message for the person at the printer, in words.
// Code is stable: the panel says each code in the page's language (every
// code has words in panel/web/i18n: a panel test reads the codes from this
// package's sources), Message in English only where it does not know one.
type Notice struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Until is set for wait and locked: when the next attempt is accepted.
	Until *time.Time `json:"until,omitempty"`
}

// Printer is the printer state the panel shows.
type Printer struct {
	Name string `json:"name"`
	URI  string `json:"uri"`
	// State is ready, printing, warming-up, sleeping, attention or
	// unreachable when the printer is read over SNMP; the IPP
	// printer-state (idle, processing, stopped) otherwise.
	State string `json:"state"`
	// Reasons are codes (media-jam, low-toner, ...); Messages the same in words.
	Reasons  []string `json:"reasons"`
	Messages []string `json:"messages"`
	CanPrint bool     `json:"can_print"`
	Vendor   string   `json:"vendor,omitempty"`
	Model    string   `json:"model,omitempty"`
	Serial   string   `json:"serial,omitempty"`
}

// Reader is the state of one card reader.
type Reader struct {
	Name     string `json:"name"`
	Attached bool   `json:"attached"`
}

// View is the session as the panel API serves it.
type View struct {
	State  string         `json:"state"`
	User   *protocol.User `json:"user"`
	Jobs   []release.Job  `json:"jobs"`
	Notice *Notice        `json:"notice"`
	// Cloud is the hub link's state: online, connecting or offline;
	// OfflineSince is when it was lost (the agent's clock, for the panel's
	// banner; nil while online).
	Cloud        string     `json:"cloud"`
	OfflineSince *time.Time `json:"offline_since,omitempty"`
	// OfflineMode is set while logins are answered from the credential
	// cache (the hub unreachable beyond offline_grace): the panel says so.
	OfflineMode bool `json:"offline_mode"`
	// OfflineSession is set when the session was opened from the cache:
	// its quota is the cached balance less this agent's unsent pages.
	OfflineSession bool     `json:"offline_session"`
	Printer        Printer  `json:"printer"`
	Readers        []Reader `json:"readers"`
	// Login lists the login modes this device accepts, so the panel shows
	// the right screens.
	Login []string `json:"login"`
	// ExpiresAt is when the session (or a PIN or registration prompt) ends
	// unless something happens.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// LockedUntil is set while the device refuses logins (state locked).
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	// AutoReleaseAt is when the held jobs release by themselves, unless
	// the person cancels (POST /api/v1/auto-release/cancel) or acts first.
	AutoReleaseAt *time.Time `json:"auto_release_at,omitempty"`
	// ExpiresInMS is ExpiresAt as milliseconds from now, read on the
	// agent's monotonic clock: the page counts down from it with its own
	// timer, whatever the printer's browser thinks the time is.
	ExpiresInMS *int64 `json:"expires_in_ms,omitempty"`
	// Notifications are messages for everyone at the printer (never nil).
	Notifications []Notification `json:"notifications"`
	// Language is the device's language (config language): the panel's
	// before login and after logout; the user's own is user.language.
	Language string `json:"language"`
	// Theme is the device's look (config theme): standard or
	// high-contrast; a person may switch it on the page for their session.
	Theme string `json:"theme"`
	// QR is the QR login code the idle screen shows (login mode qr, the
	// hub reachable); nil otherwise (remote.go).
	QR *QRLogin `json:"qr,omitempty"`
	// Enrollment is the claim code the idle screen shows while the agent
	// is not enrolled at the hub; nil once enrolled (enrollment.go).
	Enrollment *Enrollment `json:"enrollment,omitempty"`
}

// Notification is a message shown on the panel until dismissed or expired
// (the cloud link fills them).
type Notification struct {
	ID    string `json:"id"`
	Level string `json:"level"` // info or warning
	// Text is in the device's language (or English); while a person is
	// logged in, the view shows Texts[their language] instead when it has
	// one (a notify task's text per language).
	Text      string            `json:"text"`
	Texts     map[string]string `json:"-"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// Notification levels.
const (
	LevelInfo    = "info"
	LevelWarning = "warning"
)

// Authorizer says who a card belongs to (the cloud link). An accepted
// answer carries the login token the session acts on at the hub; Logout
// ends it there.
type Authorizer interface {
	Authorize(ctx context.Context, req protocol.AuthorizeRequest) (protocol.AuthorizeResponse, error)
	RegisterCard(ctx context.Context, req protocol.RegisterCardRequest) (protocol.AuthorizeResponse, error)
	Logout(ctx context.Context, loginToken string) error
	Online() bool
}

// Locks counts failed logins per key and says when a key is locked
// (offline.Store). Keys are "user:" and a keyed hash of the user name (a
// name typed in the username field may be a mistyped password), and
// "device"; never a secret.
type Locks interface {
	Failures(ctx context.Context, key string, p offline.LockPolicy) (offline.Lock, error)
	RecordFailure(ctx context.Context, key string, p offline.LockPolicy) (offline.Lock, error)
	ResetFailures(ctx context.Context, key string) error
}

// Converter turns a raw read into a card number (cardnum.Pipeline).
type Converter interface {
	Convert(raw string) (string, error)
}

// Releaser is the release engine. Who carries the session's login token:
// the hub acts only for the person logged in at this agent.
type Releaser interface {
	Jobs(ctx context.Context, who release.Who, oldestFirst bool) ([]release.Job, error)
	Start(ctx context.Context, who release.Who, job release.Job, opts release.Options) error
	Delete(ctx context.Context, who release.Who, jobID string) error
}

// Config wires a Manager.
type Config struct {
	Auth Authorizer
	// Offline answers logins while the hub cannot be reached (nil: no
	// offline mode, every login needs the hub).
	Offline OfflineAuthorizer
	Convert Converter
	Jobs    Releaser
	Timeout time.Duration // inactivity logout; default 60 s
	// SecondBadge is what a badge read during a session does (config
	// second_badge): SecondBadgeLogout (the default) ends the session,
	// whose badge it is, SecondBadgeIgnore does nothing.
	SecondBadge string
	// Language is the device's language (config language; default en).
	Language string
	// Theme is the device's look (config theme; default standard).
	Theme       string
	OldestFirst bool
	MaxJobs     int // per release; 0: no cap
	NoticeFor   time.Duration
	Printer     Printer
	// Modes are the accepted login modes: card, pin, card+pin, password.
	Modes        []string
	PINMinLength int
	Locks        Locks
	LockPolicy   offline.LockPolicy
	// Secret keys the hashes of user names in lockout keys: the agent's
	// device key, so what it keeps names no one (random when empty).
	Secret []byte
	// AutoRelease releases all held jobs this long after login unless the
	// person cancels or acts first (0: off).
	AutoRelease time.Duration
	// Location is the printer's time zone, in which policy windows are
	// read (config time_zone); nil: the system's.
	Location *time.Location
	Logger   *slog.Logger
	// Clock is the session's time, its once-a-second look at the clock
	// included (nil: the system's); tests advance a clocktest.Clock.
	Clock clock.Clock
	// Now, if set, reads the time instead of Clock.Now (the agent's
	// clock.Floor).
	Now func() time.Time
	// Storage, if set, says whether the agent's data disk has room for a
	// new session (offline.Reserve.Check): an error wrapping
	// offline.ErrDiskFull refuses it (notice disk-full), so the records of
	// what is under way still fit.
	Storage func() error
	// OnSession, if set, is told of each login and logout (the session
	// meter). It is called with the session's lock held: it must not
	// block or call the Manager.
	OnSession func(ev SessionEvent)
}

// What a badge read during a session does (Config.SecondBadge).
const (
	SecondBadgeLogout = "logout"
	SecondBadgeIgnore = "ignore"
)

// Errors of panel actions.
var (
	ErrNoSession = errors.New("no one is logged in")
	ErrNoJob     = errors.New("no such job in this session")
	// ErrNoNotification is a dismissal of a notification not shown.
	ErrNoNotification = errors.New("no such notification")
)

// Manager owns the session. It is safe for concurrent use.
type Manager struct {
	cfg Config

	// attempt is held (a token in a channel of one, so a waiting request
	// can give up with its context) across each check of a secret: read
	// the locks, ask the hub, record the outcome. Without it, parallel
	// requests all pass the check before any failure is recorded, and the
	// lockout bounds nothing. It is taken before mu, never while mu is
	// held, and mu is never held across the hub call.
	attempt chan struct{}

	mu   sync.Mutex
	view View
	card string // converted number of the logged-in or pending card; memory only
	// loginToken is the hub's login token of the active session: memory
	// only, never in the View, never logged.
	loginToken string
	// pending is the user whose card was read while the PIN is asked for.
	pending     *protocol.User
	lockedUntil time.Time
	autoAt      time.Time // zero: no auto-release pending
	lastUse     time.Time
	noticeAt    time.Time
	busy        bool
	queued      *cardreader.Read // a read that came during a login, handled after it
	readers     map[string]bool
	subs        map[chan struct{}]struct{}
	// notes are the notifications shown, oldest first.
	notes []Notification
}

// New returns a Manager with an idle session.
func New(cfg Config) *Manager {
	if cfg.Timeout == 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.NoticeFor == 0 {
		cfg.NoticeFor = 15 * time.Second
	}
	if cfg.SecondBadge == "" {
		cfg.SecondBadge = SecondBadgeLogout
	}
	if cfg.Language == "" {
		cfg.Language = "en"
	}
	if cfg.Theme == "" {
		cfg.Theme = "standard"
	}
	cfg.Clock = clock.OrReal(cfg.Clock)
	if cfg.Now == nil {
		cfg.Now = cfg.Clock.Now
	}
	if len(cfg.Modes) == 0 {
		cfg.Modes = []string{"card"}
	}
	if cfg.PINMinLength == 0 {
		cfg.PINMinLength = 4
	}
	if len(cfg.Secret) == 0 {
		// Lockouts then hold only until a restart; the agent passes its
		// device key.
		cfg.Secret = make([]byte, 32)
		_, _ = rand.Read(cfg.Secret)
	}
	m := &Manager{cfg: cfg, attempt: make(chan struct{}, 1), readers: map[string]bool{}, subs: map[chan struct{}]struct{}{}}
	start := cfg.Now()
	m.view = View{State: StateIdle, Jobs: []release.Job{}, Cloud: CloudOffline, OfflineSince: &start, Printer: cfg.Printer, Readers: []Reader{},
		Login: append([]string(nil), cfg.Modes...)}
	return m
}

// View returns a copy of the current session.
func (m *Manager) View() View {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.view
	// Copies, never nil: the panel API promises lists.
	v.Jobs = append([]release.Job{}, v.Jobs...)
	v.Readers = append([]Reader{}, v.Readers...)
	v.Notifications = m.liveNotifications()
	v.Language = m.cfg.Language
	v.Theme = m.cfg.Theme
	switch v.State {
	case StateActive, StatePINRequired, StateRegisterOffered:
		exp := m.lastUse.Add(m.cfg.Timeout)
		v.ExpiresAt = &exp
		left := max(exp.Sub(m.cfg.Now()).Milliseconds(), 0)
		v.ExpiresInMS = &left
	case StateLocked:
		until := m.lockedUntil
		v.LockedUntil = &until
	}
	if !m.autoAt.IsZero() {
		at := m.autoAt
		v.AutoReleaseAt = &at
	}
	return v
}

// Subscribe returns a channel that receives a value after every change
// (coalesced: a slow subscriber sees the latest state, not every step).
func (m *Manager) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	m.subs[ch] = struct{}{}
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		delete(m.subs, ch)
		m.mu.Unlock()
	}
}

// changed must be called with mu held.
func (m *Manager) changed() {
	for ch := range m.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (m *Manager) setNotice(code, msg string) {
	m.view.Notice = &Notice{Code: code, Message: msg}
	m.noticeAt = m.cfg.Now()
}

// setRefusal shows a refused login as the notice, with its time. m.mu is
// held.
func (m *Manager) setRefusal(le *LoginError) {
	m.setNotice(le.Code, le.Message)
	if !le.Until.IsZero() {
		until := le.Until
		m.view.Notice.Until = &until
	}
}

func (m *Manager) refused(le *LoginError) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setRefusal(le)
	m.changed()
}

// SetCloud records whether the hub is reachable.
func (m *Manager) SetCloud(online bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if online {
		m.view.Cloud = CloudOnline
		m.view.OfflineMode = false
		m.view.OfflineSince = nil
	} else {
		m.setOffline()
	}
	m.changed()
}

// The hub link's states (View.Cloud).
const (
	CloudOnline     = "online"
	CloudConnecting = "connecting"
	CloudOffline    = "offline"
)

// SetCloudConnecting says the link is trying to reach the hub again.
func (m *Manager) SetCloudConnecting() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.view.Cloud == CloudOnline {
		return // the link reports the loss first
	}
	m.setOffline()
	if m.view.Cloud != CloudConnecting {
		m.view.Cloud = CloudConnecting
		m.changed()
	}
}

// setOffline marks the link down, since now if it was up.
func (m *Manager) setOffline() {
	m.view.Cloud = CloudOffline
	if m.view.OfflineSince == nil {
		now := m.cfg.Now()
		m.view.OfflineSince = &now
	}
}

// SetPrinter records the printer's state.
func (m *Manager) SetPrinter(p Printer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.view.Printer = p
	m.changed()
}

// State records a reader attaching or going away (cardreader.Sink).
func (m *Manager) State(ev cardreader.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.readers[ev.Reader] = ev.Attached
	m.view.Readers = m.view.Readers[:0]
	for _, name := range slices.Sorted(maps.Keys(m.readers)) {
		m.view.Readers = append(m.view.Readers, Reader{Name: name, Attached: m.readers[name]})
	}
	m.changed()
}

// Read handles a card read (cardreader.Sink). It returns at once; the login
// runs in the background; a read during a login in progress is handled
// after it (the latest one wins).
func (m *Manager) Read(r cardreader.Read) {
	m.mu.Lock()
	if m.busy {
		// Handled once the login in progress has ended (the latest read
		// wins): dropping it would lose a badge presented just as the
		// screen changed.
		m.queued = &r
		m.mu.Unlock()
		m.cfg.Logger.Info("card read during a login in progress; handled after it", "reader", r.Reader)
		return
	}
	m.busy = true
	m.mu.Unlock()
	go func() {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			m.login(ctx, r)
			cancel()
			m.mu.Lock()
			next := m.queued
			m.queued = nil
			if next == nil {
				m.busy = false
				m.mu.Unlock()
				return
			}
			m.mu.Unlock()
			r = *next
		}
	}()
}

func (m *Manager) login(ctx context.Context, r cardreader.Read) {
	log := m.cfg.Logger.With("reader", r.Reader)
	if !m.accepts(modeCard) && !m.accepts(modeCardPIN) {
		m.notice("card-not-accepted", "Badges are not used at this printer. Use the PIN pad or log in.")
		return
	}
	if le := m.storageFull(); le != nil {
		m.notice(le.Code, le.Message)
		return
	}
	card := r.Value
	if m.cfg.Convert != nil {
		c, err := m.cfg.Convert.Convert(r.Value)
		if err != nil {
			log.Warn("card read does not convert", "read", cardreader.Masked(r.Value), "err", err)
			logRenderings(log, r.Value)
			m.notice("card-unreadable", "This card could not be read. Please try again.")
			return
		}
		card = c
	}
	m.mu.Lock()
	switch {
	case m.view.State == StateActive && m.cfg.SecondBadge == SecondBadgeIgnore:
		m.mu.Unlock()
		log.Info("a badge during a session; ignored (second_badge ignore)", "card", cardreader.Masked(card))
		return
	case m.view.State == StateActive:
		// Anyone's badge ends it: the person leaving, or the next one
		// in line, whose own badge then logs them in.
		same := card == m.card
		m.mu.Unlock()
		log.Info("a badge during a session: logging out (second_badge logout)", "same_card", same)
		m.Logout(ctx)
		return
	case m.view.State == StatePINRequired && card == m.card:
		m.mu.Unlock()
		return // the PIN is already being asked for
	}
	m.mu.Unlock()

	resp, offline, le := m.authorize(ctx, protocol.AuthorizeRequest{Card: card})
	if le != nil {
		log.Warn("card read but no one can say whose it is", "card", cardreader.Masked(card), "code", le.Code)
		m.refused(le)
		return
	}
	if resp.Status != protocol.AuthAccepted || resp.User == nil {
		m.cardRefused(log, r.Value, card, resp, offline)
		return
	}
	user := *resp.User
	if m.cardNeedsPIN() {
		// The badge alone is not the login here: its token is ended, and
		// the PIN's acceptance brings the session's own.
		m.endLogin(resp.LoginToken)
		if lerr := m.checkLock(ctx, m.userKey(user.Username)); lerr != nil {
			m.refused(lerr)
			return
		}
		m.askPIN(user, card)
		log.Info("card accepted; PIN required", "user", user.Username)
		return
	}
	m.activate(ctx, user, resp.LoginToken, card, offline, log)
}

// cardRefused tells the person why the hub refused their card, or offers to
// register an unknown one.
func (m *Manager) cardRefused(log *slog.Logger, raw, card string, resp protocol.AuthorizeResponse, offline bool) {
	log.Info("card refused", "card", cardreader.Masked(card), "reason", resp.Reason, "offline", offline)
	switch {
	case offline && resp.Reason == protocol.ReasonUnknownCard:
		// Registration needs the hub: offline, it is refused, never queued.
		logRenderings(log, raw)
		m.notice("card-unknown-offline", "This card is not known here, and cannot be registered while the print service is unreachable.")
		return
	}
	switch resp.Reason {
	case protocol.ReasonUnknownCard:
		logRenderings(log, raw)
		m.offerRegistration(card)
	case protocol.ReasonExpired:
		m.notice("expired", "This card has expired. Ask your administrator to renew it.")
	case protocol.ReasonLocked, protocol.ReasonAccountLocked:
		m.refused(hubRefusal(resp, m.cfg.Now()))
	default:
		m.notice("card-refused", "This card is not accepted. Ask your administrator.")
	}
}

// endLogin ends a login token at the hub, in the background: best effort
// (an unended token expires by itself), and never holding up the panel.
func (m *Manager) endLogin(token string) {
	if token == "" {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := m.cfg.Auth.Logout(ctx, token); err != nil {
			m.cfg.Logger.Info("the hub was not told of the logout; the login ends by itself", "err", err)
		}
	}()
}

// cardNeedsPIN reports whether a badge logs in only with its owner's PIN.
// Config refuses card and card+pin together; were both set, the PIN wins.
func (m *Manager) cardNeedsPIN() bool { return m.accepts(modeCardPIN) }

// askPIN turns the session into the PIN prompt for user's card.
func (m *Manager) askPIN(user protocol.User, card string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.view.State = StatePINRequired
	m.view.User = &user
	m.view.Jobs = []release.Job{}
	m.view.Notice = nil
	m.card = card
	m.pending = &user
	m.lastUse = m.cfg.Now()
	m.changed()
}

// logRenderings tells the administrator every common rendering of an
// unknown card's read, masked but for the last four characters, so the
// right conversion pipeline can be chosen without exposing the number.
//
// Only the common forms are logged: every further masked form of the same
// number narrows it down more (the rest is for `tessera card explain`,
// run at the device).
func logRenderings(log *slog.Logger, raw string) {
	attrs := []any{"read", cardreader.Masked(raw)}
	for _, r := range cardnum.Renderings(raw) {
		switch r.Name {
		case "hex", "decimal", "reversed hex", "reversed decimal", "last 4 bytes decimal",
			"wiegand26 facility:card", "decimal as hex":
		default:
			continue
		}
		attrs = append(attrs, strings.ReplaceAll(r.Name, " ", "_"), cardreader.Masked(r.Value))
	}
	log.Info("unknown card; its renderings for choosing a card_pipeline", attrs...)
}

// autoReleasable is a job a release-all would send: held or failed, not
// uncertain (that needs its owner's confirmation) nor in flight.
func autoReleasable(j release.Job) bool {
	return j.State == release.StateHeld || j.State == release.StateFailed
}

// activate starts the session of user, listing their jobs; token is the
// login token the hub accepted them with.
func (m *Manager) activate(ctx context.Context, user protocol.User, token, card string, offline bool, log *slog.Logger) {
	if le := m.storageFull(); le != nil {
		// Checked again here, whatever the way in (PIN, password, a card
		// whose check began before the disk filled): no session starts.
		log.Warn("login refused: the data disk is nearly full", "user", user.Username)
		m.mu.Lock()
		defer m.mu.Unlock()
		if token != "" && token != m.loginToken {
			m.endLogin(token)
		}
		m.pending = nil
		if m.view.State == StatePINRequired || m.view.State == StateRegisterOffered {
			m.view.State = StateIdle
		}
		m.setNotice(le.Code, le.Message)
		m.changed()
		return
	}
	jobs, err := m.cfg.Jobs.Jobs(ctx, release.Who{Username: user.Username, LoginToken: token}, m.cfg.OldestFirst)
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.loginToken; old != "" && old != token {
		m.endLogin(old)
	}
	m.tellSession(SessionEnded) // a login over an active session ends it
	m.view.State = StateActive
	m.view.User = &user
	m.view.OfflineSession = offline
	m.view.Notice = nil
	m.loginToken = token
	m.card = card
	m.pending = nil
	m.lastUse = m.cfg.Now()
	m.view.Jobs = []release.Job{}
	if err != nil {
		log.Warn("cannot list jobs", "user", user.Username, "err", err)
		m.setNotice("jobs-unavailable", "Your jobs cannot be listed right now.")
	} else {
		m.view.Jobs = jobs
	}
	m.autoAt = time.Time{}
	if m.cfg.AutoRelease > 0 && slices.ContainsFunc(m.view.Jobs, autoReleasable) {
		m.autoAt = m.lastUse.Add(m.cfg.AutoRelease)
	}
	m.tellSession(SessionStarted)
	log.Info("logged in", "user", user.Username, "jobs", len(m.view.Jobs))
	m.changed()
}

// msgDiskFull is the refusal of a session while the disk is nearly full.
const msgDiskFull = "This printer's storage is full, so it cannot start a session. Please tell your administrator."

// storageFull is the refusal of a new session while the agent's data disk
// is below its reserve, nil otherwise.
func (m *Manager) storageFull() *LoginError {
	if m.cfg.Storage == nil {
		return nil
	}
	if err := m.cfg.Storage(); errors.Is(err, offline.ErrDiskFull) {
		m.cfg.Logger.Warn("a session is refused", "err", err)
		return &LoginError{Code: "disk-full", Message: msgDiskFull}
	}
	return nil
}

func (m *Manager) notice(code, msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setNotice(code, msg)
	m.changed()
}

// Logout ends the session.
func (m *Manager) Logout(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.view.User != nil {
		m.cfg.Logger.Info("logged out", "user", m.view.User.Username)
	}
	m.tellSession(SessionEnded)
	m.endLogin(m.loginToken)
	m.loginToken = ""
	m.view.State = StateIdle
	m.view.User = nil
	m.view.Jobs = []release.Job{}
	m.view.Notice = nil
	m.card = ""
	m.pending = nil
	m.autoAt = time.Time{}
	m.changed()
}

// Refresh reloads the user's job list.
func (m *Manager) Refresh(ctx context.Context) error {
	m.mu.Lock()
	// pin-required names the card's owner too: their jobs stay hidden
	// until the PIN is right.
	if m.view.State != StateActive || m.view.User == nil {
		m.mu.Unlock()
		return ErrNoSession
	}
	user := m.view.User.Username
	who := release.Who{Username: user, LoginToken: m.loginToken}
	m.lastUse = m.cfg.Now()
	m.autoAt = time.Time{} // any action of the person cancels it
	m.mu.Unlock()
	jobs, err := m.cfg.Jobs.Jobs(ctx, who, m.cfg.OldestFirst)
	if err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.view.User != nil && m.view.User.Username == user {
		m.view.Jobs = jobs
		m.changed()
	}
	return nil
}

// Choice is one job of a release request, with the person's options.
type Choice struct {
	ID     string `json:"id"`
	Copies int    `json:"copies,omitempty"`
	Color  string `json:"color,omitempty"`
	Duplex *bool  `json:"duplex,omitempty"`
	Keep   bool   `json:"keep,omitempty"`
	// Confirm releases a job in state uncertain: its owner says print it
	// again, knowing it may have printed already.
	Confirm bool `json:"confirm,omitempty"`
}

// ReleaseRequest releases all jobs or the chosen ones.
type ReleaseRequest struct {
	All  bool     `json:"all"`
	Jobs []Choice `json:"jobs"`
}

// Result is the outcome of the request for one job.
type Result struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	// ReasonCode says Reason for the panel in the person's language
	// (reason.CODE in panel/web/i18n), with its number ReasonN.
	ReasonCode string `json:"reason_code,omitempty"`
	ReasonN    int    `json:"reason_n,omitempty"`
	Conflict   bool   `json:"-"`
}

// Release starts the chosen jobs. Each job is claimed before Release
// returns; printing goes on in the background and shows in the session.
func (m *Manager) Release(ctx context.Context, req ReleaseRequest) ([]Result, error) {
	r, err := m.takeRequest(req)
	if err != nil {
		return nil, err
	}
	return m.release(ctx, r), nil
}

// release starts r's choices under r's policy: its time windows, its page
// quota, the cap on one release.
func (m *Manager) release(ctx context.Context, r releaseRequest) []Result {
	if !allowedNow(m.cfg.Now(), m.cfg.Location, r.policy.Windows) {
		reason := "Printing is not allowed at this time. Allowed: " + describeWindows(r.policy.Windows) + "."
		results := make([]Result, 0, len(r.choices))
		for _, c := range r.choices {
			results = append(results, Result{ID: c.ID, State: release.StateHeld, Reason: reason, ReasonCode: "outside-hours"})
		}
		return results
	}
	// The quota is spent in the order of the request: the jobs that fit
	// print, the others are skipped with a reason.
	var left *int
	if r.policy.QuotaPages != nil {
		n := *r.policy.QuotaPages
		left = &n
	}
	results := make([]Result, 0, len(r.choices))
	started := 0
	for _, c := range r.choices {
		job, ok := r.jobs[c.ID]
		pages, why := releasePages(c, job)
		if ok && why.Text != "" {
			results = append(results, Result{ID: c.ID, State: release.StateHeld, Reason: why.Text, ReasonCode: why.Code, ReasonN: why.N})
			continue
		}
		if res, refused := m.refusal(c, job, ok, started, pages, left); refused {
			results = append(results, res)
			continue
		}
		color, duplex := printSettings(c, job, r.policy)
		err := m.cfg.Jobs.Start(ctx, release.Who{Username: r.user, LoginToken: r.token}, job, release.Options{Copies: c.Copies, Color: color, Duplex: duplex, Keep: c.Keep, Confirm: c.Confirm})
		res := m.startResult(c.ID, err)
		if err == nil {
			started++
			if left != nil {
				*left -= pages
			}
		}
		results = append(results, res)
	}
	if left != nil {
		m.spendQuota(r.user, *left)
	}
	return results
}

// releaseRequest is what Release reads of the session, under its lock.
type releaseRequest struct {
	user    string
	token   string // the session's login token
	jobs    map[string]release.Job
	choices []Choice
	policy  protocol.Policy
}

// takeRequest reads the session for req: the user, their listed jobs, the
// jobs chosen (all releasable ones for All) and their policy. It counts as
// activity and cancels a pending auto-release.
func (m *Manager) takeRequest(req ReleaseRequest) (releaseRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.view.State != StateActive || m.view.User == nil {
		return releaseRequest{}, ErrNoSession
	}
	m.lastUse = m.cfg.Now()
	m.autoAt = time.Time{}
	r := releaseRequest{user: m.view.User.Username, token: m.loginToken, jobs: make(map[string]release.Job, len(m.view.Jobs)), choices: req.Jobs}
	for _, j := range m.view.Jobs {
		r.jobs[j.ID] = j
	}
	if req.All {
		r.choices = nil
		for _, j := range m.view.Jobs {
			if j.State == release.StateHeld || j.State == release.StateFailed {
				r.choices = append(r.choices, Choice{ID: j.ID})
			}
		}
	}
	if m.view.User.Policy != nil {
		r.policy = *m.view.User.Policy
	}
	return r, nil
}

// refusal says why choice c is not started, if it is not: a job not
// listed, the cap on one release, the page quota (pages for it, left).
func (m *Manager) refusal(c Choice, job release.Job, listed bool, started, pages int, left *int) (Result, bool) {
	held := func(reason, code string, n int) (Result, bool) {
		return Result{ID: c.ID, State: release.StateHeld, Reason: reason, ReasonCode: code, ReasonN: n}, true
	}
	switch {
	case !listed:
		return Result{ID: c.ID, State: "unknown", Reason: "This job is not in your list.", ReasonCode: "not-in-list"}, true
	case m.cfg.MaxJobs > 0 && started >= m.cfg.MaxJobs:
		return held(fmt.Sprintf("At most %d jobs can be released at once.", m.cfg.MaxJobs), "max-jobs", m.cfg.MaxJobs)
	case left != nil && job.Pages <= 0:
		// A job whose length is unknown (a CUPS job still held, a local
		// job that is not PDF) would fit any quota.
		return held("The number of pages of this job is not known, so it cannot be checked against your page quota.", "pages-unknown", 0)
	case left != nil && pages > *left:
		// The number is the pages it needs; the page shows the quota left.
		return held(fmt.Sprintf("Not enough quota: this job needs %d pages, %d left.", pages, max(*left, 0)), "quota", pages)
	}
	return Result{}, false
}

// printSettings are the colour and duplex a job prints with: the person's
// choice within the policy (never mono → colour; a mono policy wins; long
// jobs forced to duplex).
func printSettings(c Choice, job release.Job, policy protocol.Policy) (string, *bool) {
	color := c.Color
	if (color == "color" && !job.Color) || policy.ForceMono {
		color = ""
		if policy.ForceMono {
			color = "mono"
		}
	}
	duplex := c.Duplex
	if policy.DuplexAbove > 0 && job.Pages > policy.DuplexAbove {
		yes := true
		duplex = &yes
	}
	return color, duplex
}

// startResult tells the person what became of starting job id.
func (m *Manager) startResult(id string, err error) Result {
	var conflict *offline.ConflictError
	switch {
	case errors.As(err, &conflict) && conflict.Current.State == offline.StateUncertain:
		// Not a conflict: a question for the owner, answered by
		// releasing again with confirm.
		return Result{ID: id, State: release.StateUncertain, ReasonCode: release.CodeUncertain,
			Reason: "The printer did not say whether this job printed. Release it again with confirmation to print it again."}
	case errors.As(err, &conflict):
		state := string(conflict.Current.State)
		if conflict.Current.State == offline.StateClaimed {
			state = release.StateQueued // the panel's name for it
		}
		return Result{ID: id, State: state, Reason: "This job is already being released or was printed.", ReasonCode: "conflict", Conflict: true}
	case err != nil:
		m.cfg.Logger.Warn("release refused", "job", id, "err", err)
		return Result{ID: id, State: release.StateHeld, Reason: "This job cannot be released.", ReasonCode: "cannot-release"}
	}
	return Result{ID: id, State: release.StateQueued}
}

// spendQuota shows user's quota after a release in the session too, until
// the hub's balance catches up at the next login.
func (m *Manager) spendQuota(user string, left int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.view.User != nil && m.view.User.Policy != nil && m.view.User.Username == user {
		p := *m.view.User.Policy
		p.QuotaPages = &left
		u := *m.view.User
		u.Policy = &p
		m.view.User = &u
		m.changed()
	}
}

// CancelAutoRelease stops a pending auto-release.
func (m *Manager) CancelAutoRelease() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.autoAt.IsZero() {
		m.autoAt = time.Time{}
		m.lastUse = m.cfg.Now()
		m.changed()
	}
}

// Delete removes one of the user's held jobs.
func (m *Manager) Delete(ctx context.Context, jobID string) error {
	m.mu.Lock()
	if m.view.State != StateActive || m.view.User == nil {
		m.mu.Unlock()
		return ErrNoSession
	}
	who := release.Who{Username: m.view.User.Username, LoginToken: m.loginToken}
	m.lastUse = m.cfg.Now()
	m.autoAt = time.Time{} // any action of the person cancels it
	found := false
	for _, j := range m.view.Jobs {
		found = found || j.ID == jobID
	}
	m.mu.Unlock()
	if !found {
		return ErrNoJob
	}
	if err := m.cfg.Jobs.Delete(ctx, who, jobID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	jobs := m.view.Jobs[:0:0]
	for _, j := range m.view.Jobs {
		if j.ID != jobID {
			jobs = append(jobs, j)
		}
	}
	m.view.Jobs = jobs
	m.changed()
	return nil
}

// Progress applies a release engine progress report to the job list.
func (m *Manager) Progress(p release.Progress) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.view.Jobs {
		if m.view.Jobs[i].ID == p.JobID {
			m.view.Jobs[i].State = p.State
			m.view.Jobs[i].Reason = p.Reason
			m.view.Jobs[i].ReasonCode, m.view.Jobs[i].ReasonN = p.ReasonCode, p.ReasonN
			if p.State == release.StatePrinted {
				m.view.Jobs[i].Printed = p.Impressions
			}
			m.lastUse = m.cfg.Now()
			m.changed()
			return
		}
	}
}

// Run ends idle sessions and stale notices until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	m.restoreDeviceLock(ctx)
	t, tick := m.cfg.Clock.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		now := m.cfg.Now()
		m.mu.Lock()
		if m.view.Notice != nil && now.Sub(m.noticeAt) > m.cfg.NoticeFor {
			m.view.Notice = nil
			m.changed()
		}
		if m.pruneNotifications(now) {
			m.changed()
		}
		expired := m.view.State == StateActive && now.Sub(m.lastUse) > m.cfg.Timeout && !m.releasing()
		prompt := m.view.State == StatePINRequired || m.view.State == StateRegisterOffered
		expired = expired || (prompt && now.Sub(m.lastUse) > m.cfg.Timeout)
		auto := !m.autoAt.IsZero() && !now.Before(m.autoAt) && m.view.State == StateActive
		if auto {
			m.autoAt = time.Time{}
		}
		m.unlockIfDue()
		m.mu.Unlock()
		m.refreshOffline()
		if auto {
			m.cfg.Logger.Info("auto-release")
			if _, err := m.Release(ctx, ReleaseRequest{All: true}); err != nil {
				m.cfg.Logger.Warn("auto-release failed", "err", err)
			}
		}
		if expired {
			m.cfg.Logger.Info("session timed out")
			m.Logout(ctx)
		}
	}
}

// releasing reports whether a job of the session is still in flight; mu held.
func (m *Manager) releasing() bool {
	for _, j := range m.view.Jobs {
		switch j.State {
		case release.StateQueued, release.StateSending, release.StatePrinting:
			return true
		}
	}
	return false
}
