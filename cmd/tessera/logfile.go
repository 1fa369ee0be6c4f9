package main

import (
	"io"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/internal/logfile"
)

// openLog is where the agent logs: stderr always (a service manager's
// journal keeps it), and the config's log_file too when set, rotated at
// log_max_mib. files lists the log files for the diagnostics bundle (nil
// without log_file); done closes the file.
func openLog(stderr io.Writer, cfg config.Config) (w io.Writer, files func() []string, done func(), err error) {
	if cfg.LogFile == "" {
		return stderr, nil, func() {}, nil
	}
	f, err := logfile.Open(cfg.LogFile, cfg.LogMaxMiB<<20)
	if err != nil {
		return nil, nil, nil, err
	}
	return io.MultiWriter(stderr, f), f.Files, func() { f.Close() }, nil
}
