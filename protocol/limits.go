package protocol

import (
	"encoding/json"
	"fmt"
)

// Caps on what one CALL from an agent may carry. Decode enforces them:
// a payload beyond any of them is a FormationViolation (permanent), so
// each is far above what a real agent sends (docs/protocol.md, Limits).
const (
	// MaxIDLength bounds every id: agent ids, job ids, record ids, claim
	// ids, attempt names, login tokens.
	MaxIDLength = 256
	// MaxKeyLength bounds a ClaimJob key (the hub's own bound).
	MaxKeyLength = 512
	// MaxUsernameLength bounds a username (the hub's own are at most 64).
	MaxUsernameLength = 256
	// MaxCardLength bounds a card number after the agent's pipeline (the
	// hub's own are at most 128; a longer one is merely unknown).
	MaxCardLength = 256
	// MaxPINLength bounds a typed PIN (the hub's PINs are at most 16 digits;
	// a longer one is merely wrong, so there is room to say so).
	MaxPINLength = 64
	// MaxPasswordLength bounds a typed password (the hub's own are at most
	// 1024 bytes; a longer one is merely wrong).
	MaxPasswordLength = 4096
	// MaxWordLength bounds names from a fixed vocabulary: kinds, states,
	// statuses, record types, capabilities, versions.
	MaxWordLength = 64
	// MaxTextLength bounds free text: printer URI, make and model, serial,
	// a job status's reason, one printer reason.
	MaxTextLength = 1024
	// MaxListLength bounds capabilities and a printer event's reasons.
	MaxListLength = 128
	// MaxEventData bounds a printer event's data, as JSON.
	MaxEventData = 64 << 10
	// MaxMediaLength bounds a PWG media name (an IPP keyword: at most 255
	// octets).
	MaxMediaLength = 255
	// MaxAccountingBatch bounds the records of one Accounting call (the
	// agent sends at most 100).
	MaxAccountingBatch = 1000
)

// validator is a request that checks its own fields against the caps.
type validator interface {
	Validate() error
}

// field is one string field and its cap.
type field struct {
	name  string
	value string
	max   int
}

// checkFields reports the first field longer than its cap. Lengths are
// bytes: what costs memory and storage.
func checkFields(fields ...field) error {
	for _, f := range fields {
		if len(f.value) > f.max {
			return fmt.Errorf("%s: at most %d bytes", f.name, f.max)
		}
	}
	return nil
}

// checkList bounds a list of strings: its length and each element's.
func checkList(name string, list []string, maxLen, maxEach int) error {
	if len(list) > maxLen {
		return fmt.Errorf("%s: at most %d entries", name, maxLen)
	}
	for i, v := range list {
		if len(v) > maxEach {
			return fmt.Errorf("%s[%d]: at most %d bytes", name, i, maxEach)
		}
	}
	return nil
}

// Validate checks a BootRequest against the caps.
func (r BootRequest) Validate() error {
	if err := checkFields(field{"agent_id", r.AgentID, MaxIDLength}, field{"version", r.Version, MaxWordLength}); err != nil {
		return err
	}
	if err := checkList("capabilities", r.Capabilities, MaxListLength, MaxWordLength); err != nil {
		return err
	}
	return r.Printer.Validate()
}

// Validate checks a Printer against the caps.
func (p Printer) Validate() error {
	return checkFields(field{"printer.uri", p.URI, MaxTextLength}, field{"printer.make_model", p.MakeModel, MaxTextLength},
		field{"printer.serial", p.Serial, MaxTextLength})
}

// Validate checks an AuthorizeRequest against the caps.
func (r AuthorizeRequest) Validate() error {
	return checkFields(field{"card", r.Card, MaxCardLength}, field{"pin", r.PIN, MaxPINLength},
		field{"username", r.Username, MaxUsernameLength}, field{"password", r.Password, MaxPasswordLength})
}

// Validate checks a RegisterCardRequest against the caps.
func (r RegisterCardRequest) Validate() error {
	return checkFields(field{"card", r.Card, MaxCardLength}, field{"username", r.Username, MaxUsernameLength},
		field{"password", r.Password, MaxPasswordLength})
}

// Validate checks a ListJobsRequest against the caps.
func (r ListJobsRequest) Validate() error {
	return checkFields(field{"username", r.Username, MaxUsernameLength}, field{"login_token", r.LoginToken, MaxIDLength})
}

// Validate checks a FetchJobRequest against the caps.
func (r FetchJobRequest) Validate() error {
	return checkFields(field{"job_id", r.JobID, MaxIDLength}, field{"username", r.Username, MaxUsernameLength},
		field{"attempt", r.Attempt, MaxIDLength}, field{"login_token", r.LoginToken, MaxIDLength})
}

// Validate checks a DeleteJobRequest against the caps.
func (r DeleteJobRequest) Validate() error {
	return checkFields(field{"job_id", r.JobID, MaxIDLength}, field{"username", r.Username, MaxUsernameLength},
		field{"login_token", r.LoginToken, MaxIDLength})
}

// Validate checks a LogoutRequest against the caps.
func (r LogoutRequest) Validate() error {
	return checkFields(field{"login_token", r.LoginToken, MaxIDLength})
}

// Validate checks a JobStatusRequest against the caps.
func (r JobStatusRequest) Validate() error {
	return checkFields(field{"job_id", r.JobID, MaxIDLength}, field{"state", r.State, MaxWordLength},
		field{"reason", r.Reason, MaxTextLength}, field{"claim_id", r.ClaimID, MaxIDLength})
}

// Validate checks a Record against the caps.
func (r Record) Validate() error {
	return checkFields(field{"id", r.ID, MaxIDLength}, field{"agent_id", r.AgentID, MaxIDLength},
		field{"job_id", r.JobID, MaxIDLength}, field{"owner", r.Owner, MaxUsernameLength},
		field{"type", r.Type, MaxWordLength}, field{"printer_serial", r.PrinterSerial, MaxTextLength},
		field{"basis", r.Basis, MaxWordLength}, field{"claim_id", r.ClaimID, MaxIDLength},
		field{"login_token", r.LoginToken, MaxIDLength}, field{"paper_size", r.PaperSize, MaxMediaLength},
		field{"account", r.Account, MaxUsernameLength})
}

// Validate checks an AccountingRequest: the batch size and every record.
func (r AccountingRequest) Validate() error {
	if len(r.Records) > MaxAccountingBatch {
		return fmt.Errorf("records: at most %d in one batch", MaxAccountingBatch)
	}
	for i, rec := range r.Records {
		if err := rec.Validate(); err != nil {
			return fmt.Errorf("records[%d].%w", i, err)
		}
	}
	return nil
}

// Validate checks a ClaimJobRequest against the caps.
func (r ClaimJobRequest) Validate() error {
	return checkFields(field{"key", r.Key, MaxKeyLength})
}

// Validate checks a ReleaseClaimRequest against the caps.
func (r ReleaseClaimRequest) Validate() error {
	return checkFields(field{"key", r.Key, MaxKeyLength}, field{"claim_id", r.ClaimID, MaxIDLength})
}

// Validate checks a PrinterEventRequest against the caps; data is measured
// as the JSON it arrived as, re-encoded.
func (r PrinterEventRequest) Validate() error {
	if err := checkFields(field{"kind", r.Kind, MaxWordLength}, field{"status", r.Status, MaxWordLength}); err != nil {
		return err
	}
	if err := checkList("reasons", r.Reasons, MaxListLength, MaxTextLength); err != nil {
		return err
	}
	if len(r.Data) == 0 {
		return nil
	}
	b, err := json.Marshal(r.Data)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if len(b) > MaxEventData {
		return fmt.Errorf("data: at most %d bytes of JSON", MaxEventData)
	}
	return nil
}
