package ipp

import (
	"context"
	"errors"
	"fmt"
	"time"

	goipp "github.com/phin1x/go-ipp"
)

// ErrJobsNotListed says that the printer does not list its completed jobs
// (it refuses which-jobs=completed, or does not say when they completed):
// what it printed for others is unknown, not nothing.
var ErrJobsNotListed = errors.New("the printer does not list its completed jobs")

// CompletedJob is a job the printer reports completed, whoever sent it.
type CompletedJob struct {
	ID int
	// Name and User are job-name and job-originating-user-name; empty when
	// the printer hides them (job privacy).
	Name, User string
	// Impressions is job-impressions-completed; ImpressionsKnown is false
	// when the printer did not report it.
	Impressions      int
	ImpressionsKnown bool
	// CompletedAt is time-at-completed: seconds on the printer's own
	// clock, the one CompletedJobs.UpTime is read on; CompletedAtKnown is
	// false when the printer did not report it.
	CompletedAt      int
	CompletedAtKnown bool
	// CompletedDate is date-time-at-completed when the printer reports
	// it (zero otherwise); the printer's calendar clock, which may be wrong.
	CompletedDate time.Time
}

// CompletedJobs is a listing of a printer's completed jobs.
type CompletedJobs struct {
	// UpTime is printer-up-time, read just before the listing: the clock
	// of the jobs' CompletedAt. It goes back when the printer restarts.
	UpTime int
	Jobs   []CompletedJob
}

var completedJobAttributes = []string{
	"job-id", "job-name", "job-originating-user-name", "job-impressions-completed",
	"time-at-completed", "date-time-at-completed",
}

// CompletedJobs lists the completed jobs the printer still keeps, every
// client's (my-jobs false), with the printer's up-time read first, so a
// caller can tell which completed after an earlier reading on the
// printer's clock, never the agent's. A printer that refuses
// which-jobs=completed, or reports no printer-up-time, gives an error
// matching ErrJobsNotListed.
//
// Printers keep a bounded history (ippeveprinter forgets a job a minute
// after it ended): a job missing here may still have been printed.
func (c *Client) CompletedJobs(ctx context.Context) (CompletedJobs, error) {
	up, err := c.upTime(ctx)
	if err != nil {
		return CompletedJobs{}, fmt.Errorf("completed jobs: %w", err)
	}
	r := c.request(goipp.OperationGetJobs, c.user)
	r.OperationAttributes[goipp.AttributeWhichJobs] = goipp.JobStateFilterCompleted
	r.OperationAttributes[goipp.AttributeMyJobs] = false
	r.OperationAttributes[goipp.AttributeRequestedAttributes] = completedJobAttributes
	head, err := encodeRequest(r, false, nil)
	if err != nil {
		return CompletedJobs{}, fmt.Errorf("completed jobs: %w", err)
	}
	resp, err := c.do(ctx, "Get-Jobs", head, nil, 0)
	var se *StatusError
	if errors.As(err, &se) && (se.Code == goipp.StatusErrorAttributesOrValues || se.Code == goipp.StatusErrorOperationNotSupported) {
		return CompletedJobs{}, fmt.Errorf("completed jobs: %w: %w", ErrJobsNotListed, err)
	}
	if err != nil {
		return CompletedJobs{}, fmt.Errorf("completed jobs: %w", err)
	}
	out := CompletedJobs{UpTime: up}
	for _, a := range resp.JobAttributes {
		out.Jobs = append(out.Jobs, completedJob(a))
	}
	return out, nil
}

// upTime reads printer-up-time (Get-Printer-Attributes).
func (c *Client) upTime(ctx context.Context) (int, error) {
	r := c.request(goipp.OperationGetPrinterAttributes, c.user)
	r.OperationAttributes[goipp.AttributeRequestedAttributes] = []string{"printer-up-time"}
	head, err := encodeRequest(r, false, nil)
	if err != nil {
		return 0, fmt.Errorf("Get-Printer-Attributes: %w", err)
	}
	resp, err := c.do(ctx, "Get-Printer-Attributes", head, nil, 0)
	if err != nil {
		return 0, err
	}
	if len(resp.PrinterAttributes) > 0 {
		// RFC 8011 says 1 or more; ippeveprinter says 0 in its first second.
		if up, ok := firstInt(resp.PrinterAttributes[0], "printer-up-time"); ok && up >= 0 {
			return up, nil
		}
	}
	return 0, fmt.Errorf("%w: no printer-up-time", ErrJobsNotListed)
}

// completedJob reads one job's group of a Get-Jobs response; what the
// printer left out stays zero.
func completedJob(a goipp.Attributes) CompletedJob {
	j := CompletedJob{Name: firstString(a, "job-name"), User: firstString(a, "job-originating-user-name")}
	j.ID, _ = firstInt(a, "job-id")
	j.Impressions, j.ImpressionsKnown = firstInt(a, "job-impressions-completed")
	j.CompletedAt, j.CompletedAtKnown = firstInt(a, "time-at-completed")
	if v := a["date-time-at-completed"]; len(v) > 0 {
		if d, ok := v[0].Value.([]int); ok {
			j.CompletedDate, _ = dateTime(d)
		}
	}
	return j
}

// dateTime decodes an IPP dateTime (RFC 2579 DateAndTime, 11 octets) as
// go-ipp hands it over: each octet as a signed int. A value that is not a
// date gives false.
func dateTime(v []int) (time.Time, bool) {
	if len(v) != 11 {
		return time.Time{}, false
	}
	b := make([]int, len(v))
	for i, x := range v {
		b[i] = int(byte(x)) // go-ipp reads octets as int8
	}
	year := b[0]<<8 | b[1]
	month, day, hour, minute, sec, deci := b[2], b[3], b[4], b[5], b[6], b[7]
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 || deci > 9 ||
		(b[8] != '+' && b[8] != '-') || b[9] > 14 || b[10] > 59 {
		return time.Time{}, false
	}
	offset := (b[9]*60 + b[10]) * 60
	if b[8] == '-' {
		offset = -offset
	}
	zone := time.FixedZone("", offset)
	return time.Date(year, time.Month(month), day, hour, minute, sec, deci*int(100*time.Millisecond), zone), true
}
