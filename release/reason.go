package release

import (
	"fmt"
	"strings"
)

// Reason codes: what a job's reason says, as a code the panel says in the
// person's language (reason.CODE in panel/web/i18n; panel/reason_test.go
// reads them from this package's sources). The English words stay in
// Reason, for API clients and logs.
const (
	CodeStopped   = "stopped"   // N: the pages printed before the printer stopped
	CodeDamaged   = "damaged"   // the document could not be read whole
	CodeUncertain = "uncertain" // the printer did not say whether it printed
	// CodeAsking: the printer is asked again how the job went, or its
	// answer waits to be recorded (the job stays sending or printing).
	CodeAsking = "asking"
	// CodeNotSent: the release stopped before the printer had the job
	// (interrupted, not journaled, sending failed); release it again.
	CodeNotSent = "not-sent"
	CodeFormat  = "format-unsupported"
	// CodeBusy: the printer did not take the job now (busy, not
	// accepting jobs, too slow to answer).
	CodeBusy = "busy"
)

// Why is a job's reason: English words and the code (with its number) the
// panel says them by.
type Why struct {
	Text string
	Code string
	N    int
}

// Words of the reasons above.
const (
	msgUncertain = "The printer did not confirm whether this job printed."
	// msgDamaged is the reason of a job whose document could not be read
	// whole from its source (a download whose hash did not match): it was
	// cut off before the printer had all of it.
	msgDamaged = "The document arrived damaged, so it was not printed. Release it again; ask for help if this lasts."
	// msgNotSaved is shown while a printer's answer waits to be recorded.
	msgNotSaved = "The printer's answer could not be saved yet; it is saved again."
	// Shown while a release waits for the printer to say more.
	msgChecking      = "The printer did not confirm it took this job; it is being asked again."
	msgStillPrinting = "The printer has this job and has not said it finished; it is being asked again."
	msgInterrupted   = "The release was interrupted. Please release the job again."
	msgNotStarted    = "The job could not be started. Try again in a moment."
	msgFormat        = "This printer cannot print this kind of document."
	msgBusy          = "The printer stayed busy. Try again in a moment."
	msgNotAccepting  = "The printer is not taking jobs right now. Ask for help if this lasts."
	msgTimeout       = "The printer took too long to answer."
	msgSendFailed    = "The job could not be sent to the printer."
	// msgAgain follows an uncertain job's reason in the job list.
	msgAgain = " Print it again?"
	// stoppedFormat is the reason of a job cut short: its pages and the
	// printer's job state.
	stoppedFormat = "The printer stopped the job after %d pages (%s); only those were charged."
)

var (
	whyUncertain     = Why{Text: msgUncertain, Code: CodeUncertain}
	whyDamaged       = Why{Text: msgDamaged, Code: CodeDamaged}
	whyNotSaved      = Why{Text: msgNotSaved, Code: CodeAsking}
	whyChecking      = Why{Text: msgChecking, Code: CodeAsking}
	whyStillPrinting = Why{Text: msgStillPrinting, Code: CodeAsking}
	whyInterrupted   = Why{Text: msgInterrupted, Code: CodeNotSent}
)

// stopped is the reason of a job the printer ended after pages impressions.
func stopped(pages int, state string) Why {
	return Why{Text: fmt.Sprintf(stoppedFormat, pages, state), Code: CodeStopped, N: pages}
}

// whyOfText gives back the code of a reason the journal kept as words
// only (a failed or uncertain job listed after a restart), for the reasons
// this package writes; another's (a printer's state in words, a source's
// refusal) keeps no code, and the panel shows its English words.
func whyOfText(text string) Why {
	for _, w := range []Why{whyUncertain, whyDamaged, whyInterrupted, reasonFor(errNotJournaled),
		{Text: msgFormat, Code: CodeFormat}, {Text: msgBusy, Code: CodeBusy},
		{Text: msgNotAccepting, Code: CodeBusy}, {Text: msgTimeout, Code: CodeBusy},
		{Text: msgSendFailed, Code: CodeNotSent}} {
		if w.Text == text {
			return w
		}
	}
	var n int
	var state string
	if strings.HasPrefix(text, "The printer stopped the job after ") {
		if _, err := fmt.Sscanf(text, "The printer stopped the job after %d pages (%s", &n, &state); err == nil {
			return Why{Text: text, Code: CodeStopped, N: n}
		}
	}
	return Why{Text: text}
}

func (j *Job) setWhy(w Why) { j.Reason, j.ReasonCode, j.ReasonN = w.Text, w.Code, w.N }

// progress is a state change of job id, with its reason.
func progress(id, state string, w Why) Progress {
	return Progress{JobID: id, State: state, Reason: w.Text, ReasonCode: w.Code, ReasonN: w.N}
}
