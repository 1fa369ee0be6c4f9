package config

import (
	"errors"
	"time"
)

// validateMeter checks the session meter's keys (meter_*).
func (c Config) validateMeter() []error {
	var errs []error
	if w := time.Duration(c.MeterIdleWait); w < time.Second || w > 30*time.Minute {
		errs = append(errs, errors.New("meter_idle_wait: must be 1s to 30m"))
	}
	if c.MeterMaxPPM < 1 || c.MeterMaxPPM > 1000 {
		errs = append(errs, errors.New("meter_max_ppm: must be 1 to 1000"))
	}
	if c.MeterMaxPages < 1 || c.MeterMaxPages > 1000000 {
		errs = append(errs, errors.New("meter_max_pages: must be 1 to 1000000"))
	}
	return errs
}
