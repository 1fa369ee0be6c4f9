package snmp

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Security levels of SNMPv3 (RFC 3414).
const (
	NoAuthNoPriv = "noAuthNoPriv"
	AuthNoPriv   = "authNoPriv"
	AuthPriv     = "authPriv"
)

// Defaults of Settings. MaxRepetitions stays low because real printers
// drop or truncate GETBULK answers above 25-55 repetitions.
const (
	DefaultPort           = 161
	DefaultTimeout        = 2 * time.Second
	DefaultRetries        = 1
	DefaultMaxRepetitions = 10
	DefaultDeadline       = 10 * time.Second
	DefaultCommunity      = "public"
)

// Settings say how to reach one printer over SNMP.
type Settings struct {
	Target    string // HOST:PORT
	Version   string // "1", "2c" or "3"
	Community string // v1 and v2c

	// SNMPv3 (USM).
	User      string
	Level     string // NoAuthNoPriv, AuthNoPriv or AuthPriv
	AuthProto string // "SHA" or "SHA-256" (also SHA-224, SHA-384, SHA-512)
	AuthPass  string
	PrivProto string // "AES" (AES-128)
	PrivPass  string

	Timeout        time.Duration // one request
	Retries        int           // resends of a request that got no answer
	Bulk           bool          // GETBULK for walks (v2c and v3); GETNEXT otherwise
	MaxRepetitions int           // GETBULK max-repetitions
	Deadline       time.Duration // a whole Read or Check
}

// DefaultSettings returns v2c settings with community "public" and the
// default timing for target (HOST or HOST:PORT).
func DefaultSettings(target string) Settings {
	return Settings{
		Target:         withPort(target),
		Version:        "2c",
		Community:      DefaultCommunity,
		Timeout:        DefaultTimeout,
		Retries:        DefaultRetries,
		Bulk:           true,
		MaxRepetitions: DefaultMaxRepetitions,
		Deadline:       DefaultDeadline,
	}
}

// withPort adds the SNMP port to a target that has none.
func withPort(target string) string {
	if target == "" {
		return ""
	}
	if _, _, err := net.SplitHostPort(target); err == nil {
		return target
	}
	return net.JoinHostPort(strings.Trim(target, "[]"), strconv.Itoa(DefaultPort))
}

// ParseURL reads settings from
//
//	snmp://[COMMUNITY@]HOST[:PORT]?version=2c&timeout=2s&retries=1&bulk=true&max-repetitions=10&deadline=10s
//	snmp://USER@HOST[:PORT]?version=3&level=authPriv&auth=SHA-256&auth-pass-file=F&priv=AES&priv-pass-file=F
//
// Pass phrases come only from files, read with readFile; a pass phrase
// written in the URL itself is refused, because URLs end up in process
// lists, logs and shell histories.
func ParseURL(raw string, readFile func(string) ([]byte, error)) (Settings, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Settings{}, fmt.Errorf("snmp URL: %w", redactURLError(err))
	}
	if u.Scheme != "snmp" {
		return Settings{}, fmt.Errorf("snmp URL: scheme %q, want snmp://", u.Scheme)
	}
	if u.Host == "" {
		return Settings{}, errors.New("snmp URL: no host")
	}
	if u.Path != "" && u.Path != "/" {
		return Settings{}, fmt.Errorf("snmp URL: unexpected path %q", u.Path)
	}
	if _, hasPass := u.User.Password(); hasPass {
		return Settings{}, errors.New("snmp URL: a password in the URL is refused; give auth-pass-file and priv-pass-file")
	}
	s := DefaultSettings(u.Host)
	q := u.Query()
	for key, vals := range q {
		if len(vals) != 1 {
			return Settings{}, fmt.Errorf("snmp URL: %s given %d times", key, len(vals))
		}
	}
	get := func(k string) (string, bool) {
		v, ok := q[k]
		if !ok {
			return "", false
		}
		return v[0], true
	}
	var authFile, privFile string
	for key := range q {
		v, _ := get(key)
		switch key {
		case "version":
			s.Version = v
		case "community":
			return Settings{}, errors.New("snmp URL: give the community before the host: snmp://COMMUNITY@HOST")
		case "level":
			s.Level = v
		case "auth":
			s.AuthProto = v
		case "priv":
			s.PrivProto = v
		case "auth-pass-file":
			authFile = v
		case "priv-pass-file":
			privFile = v
		case "auth-pass", "priv-pass", "authpass", "privpass", "auth-key", "priv-key":
			return Settings{}, fmt.Errorf("snmp URL: %s in the URL is refused; give %s-pass-file", key, key[:4])
		case "timeout", "deadline":
			d, err := time.ParseDuration(v)
			if err != nil {
				return Settings{}, fmt.Errorf("snmp URL: %s: %w", key, err)
			}
			if key == "timeout" {
				s.Timeout = d
			} else {
				s.Deadline = d
			}
		case "retries", "max-repetitions":
			n, err := strconv.Atoi(v)
			if err != nil {
				return Settings{}, fmt.Errorf("snmp URL: %s: %w", key, err)
			}
			if key == "retries" {
				s.Retries = n
			} else {
				s.MaxRepetitions = n
			}
		case "bulk":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Settings{}, fmt.Errorf("snmp URL: bulk: %w", err)
			}
			s.Bulk = b
		default:
			return Settings{}, fmt.Errorf("snmp URL: unknown parameter %q", key)
		}
	}
	name := u.User.Username()
	if s.Version == "3" {
		s.Community = ""
		s.User = name
		if authFile != "" {
			if s.AuthPass, err = ReadPassFile(readFile, authFile); err != nil {
				return Settings{}, err
			}
		}
		if privFile != "" {
			if s.PrivPass, err = ReadPassFile(readFile, privFile); err != nil {
				return Settings{}, err
			}
		}
	} else {
		if authFile != "" || privFile != "" || s.Level != "" || s.AuthProto != "" || s.PrivProto != "" {
			return Settings{}, fmt.Errorf("snmp URL: level, auth and priv are SNMPv3 settings; add version=3")
		}
		if name != "" {
			s.Community = name
		}
	}
	s.fillV3Defaults()
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// redactURLError drops the URL from a url.Error: it may hold a community
// or a pass phrase.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// ReadPassFile returns the pass phrase kept in path: the file's content
// without its final line break.
func ReadPassFile(readFile func(string) ([]byte, error), path string) (string, error) {
	b, err := readFile(path)
	if err != nil {
		return "", fmt.Errorf("snmp: read pass file: %w", err)
	}
	p := strings.TrimSuffix(string(b), "\n")
	p = strings.TrimSuffix(p, "\r")
	if p == "" {
		return "", fmt.Errorf("pass file %s is empty", path)
	}
	return p, nil
}

// fillV3Defaults chooses the security level and protocols a v3 user
// leaves out: the strongest level the given pass phrases allow, SHA and AES.
func (s *Settings) fillV3Defaults() {
	if s.Version != "3" {
		return
	}
	if s.Level == "" {
		switch {
		case s.AuthPass != "" && s.PrivPass != "":
			s.Level = AuthPriv
		case s.AuthPass != "":
			s.Level = AuthNoPriv
		default:
			s.Level = NoAuthNoPriv
		}
	}
	if s.AuthProto == "" && s.Level != NoAuthNoPriv {
		s.AuthProto = "SHA"
	}
	if s.PrivProto == "" && s.Level == AuthPriv {
		s.PrivProto = "AES"
	}
}

// FillDefaults sets the zero timing fields to their defaults and, for v3,
// the level and protocols that the pass phrases imply. Bulk and Retries
// keep their values: false and 0 are meaningful.
func (s *Settings) FillDefaults() {
	if s.Version == "" {
		s.Version = "2c"
	}
	if s.Version != "3" && s.Community == "" {
		s.Community = DefaultCommunity
	}
	s.Target = withPort(s.Target)
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MaxRepetitions == 0 {
		s.MaxRepetitions = DefaultMaxRepetitions
	}
	if s.Deadline == 0 {
		s.Deadline = DefaultDeadline
	}
	s.fillV3Defaults()
}

// Validate reports the first thing wrong with s.
func (s Settings) Validate() error {
	host, port, err := net.SplitHostPort(s.Target)
	if err != nil || !validHost(host) {
		return fmt.Errorf("snmp target %q: want HOST or HOST:PORT", s.Target)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("snmp target %q: bad port", s.Target)
	}
	switch s.Version {
	case "1", "2c":
		if s.Community == "" {
			return errors.New("snmp: empty community")
		}
		if s.User != "" || s.AuthPass != "" || s.PrivPass != "" || s.Level != "" {
			return fmt.Errorf("snmp: user, level and pass phrases are SNMPv3 settings, not version %s", s.Version)
		}
	case "3":
		if err := s.validateV3(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("snmp: version %q, want 1, 2c or 3", s.Version)
	}
	switch {
	case s.Timeout <= 0 || s.Timeout > time.Minute:
		return fmt.Errorf("snmp: timeout %s, want more than 0 and at most 1m", s.Timeout)
	case s.Retries < 0 || s.Retries > 10:
		return fmt.Errorf("snmp: retries %d, want 0 to 10", s.Retries)
	case s.MaxRepetitions < 1 || s.MaxRepetitions > 100:
		return fmt.Errorf("snmp: max-repetitions %d, want 1 to 100", s.MaxRepetitions)
	case s.Deadline <= 0 || s.Deadline > 10*time.Minute:
		return fmt.Errorf("snmp: deadline %s, want more than 0 and at most 10m", s.Deadline)
	}
	return nil
}

// validHost accepts an IP address or a DNS name.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func (s Settings) validateV3() error {
	if s.User == "" {
		return errors.New("snmp v3: no user (snmp://USER@HOST or --snmp-user)")
	}
	if s.Community != "" {
		return errors.New("snmp v3: a community is a v1/v2c setting")
	}
	needAuth, needPriv := false, false
	switch s.Level {
	case NoAuthNoPriv:
	case AuthNoPriv:
		needAuth = true
	case AuthPriv:
		needAuth, needPriv = true, true
	default:
		return fmt.Errorf("snmp v3: level %q, want noAuthNoPriv, authNoPriv or authPriv", s.Level)
	}
	if needAuth {
		if _, ok := authProtocol(s.AuthProto); !ok {
			return fmt.Errorf("snmp v3: auth protocol %q, want SHA or SHA-256 (MD5 is refused)", s.AuthProto)
		}
		// RFC 3414 §11.2: pass phrases shorter than 8 octets are not accepted.
		if len(s.AuthPass) < 8 {
			return errors.New("snmp v3: auth pass phrase missing or shorter than 8 characters (give an auth pass file)")
		}
	} else if s.AuthPass != "" || s.AuthProto != "" {
		return fmt.Errorf("snmp v3: level %s takes no authentication settings", s.Level)
	}
	if needPriv {
		if _, ok := privProtocol(s.PrivProto); !ok {
			return fmt.Errorf("snmp v3: privacy protocol %q, want AES (DES is refused)", s.PrivProto)
		}
		if len(s.PrivPass) < 8 {
			return errors.New("snmp v3: priv pass phrase missing or shorter than 8 characters (give a priv pass file)")
		}
	} else if s.PrivPass != "" || s.PrivProto != "" {
		return fmt.Errorf("snmp v3: level %s takes no privacy settings", s.Level)
	}
	return nil
}

// String renders s as an snmp:// URL without the community and the pass
// phrases, for logs and messages.
func (s Settings) String() string {
	u := url.URL{Scheme: "snmp", Host: s.Target}
	q := url.Values{}
	q.Set("version", s.Version)
	if s.Version == "3" {
		u.User = url.User(s.User)
		q.Set("level", s.Level)
		if s.AuthProto != "" {
			q.Set("auth", s.AuthProto)
		}
		if s.PrivProto != "" {
			q.Set("priv", s.PrivProto)
		}
	}
	q.Set("timeout", s.Timeout.String())
	q.Set("retries", strconv.Itoa(s.Retries))
	q.Set("bulk", strconv.FormatBool(s.Bulk))
	q.Set("max-repetitions", strconv.Itoa(s.MaxRepetitions))
	q.Set("deadline", s.Deadline.String())
	u.RawQuery = q.Encode()
	return u.String()
}
