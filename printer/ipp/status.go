package ipp

import (
	"errors"
	"fmt"

	goipp "github.com/phin1x/go-ipp"
)

var (
	// ErrBusy is returned when the printer answered server-error-busy, or
	// could not take a job for a moment (see Print) after part of the
	// document had been sent and it could not be rewound: the caller should
	// re-open the document and retry later.
	ErrBusy = errors.New("printer busy")
	// ErrNotAccepting is returned when the printer does not accept jobs:
	// printer-is-accepting-jobs is false, or it answered
	// server-error-not-accepting-jobs.
	ErrNotAccepting = errors.New("printer is not accepting jobs")
	// ErrFormatUnsupported is returned when the printer does not take the
	// document format. Print checks document-format-supported before
	// sending anything.
	ErrFormatUnsupported = errors.New("document format not supported by the printer")
	// ErrJobGone is returned when the printer no longer knows a job it
	// accepted; printers forget finished jobs after a while.
	ErrJobGone = errors.New("printer no longer knows the job")
	// ErrMaybeSent is returned by Print when the printer may have created
	// the job although Print failed: the whole document went out and the
	// answer was lost, or ctx ended while the document was going out (a
	// printer may start a streamed job before its end). Sending it again
	// could print it twice; find it with FindJob by its unique name instead.
	ErrMaybeSent = errors.New("the printer may have the job")
	// ErrDocument is returned by Print when reading the document failed (a
	// source that broke, a hash mismatch, a length other than Size). The
	// request is cut off before the document's last bytes, so the printer
	// never has the whole of it; when some of it went out, the error also
	// matches ErrMaybeSent (a printer may have started on it).
	ErrDocument = errors.New("the document could not be read")
)

// StatusError is an IPP response with an error status code.
type StatusError struct {
	Op      string // the operation, e.g. "Print-Job"
	Code    int16  // the IPP status code
	Message string // the printer's status-message, if any
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: %s", e.Op, StatusName(e.Code))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is makes errors.Is match the sentinel errors the status stands for.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrBusy:
		return e.Code == goipp.StatusErrorBusy
	case ErrFormatUnsupported:
		return e.Code == goipp.StatusErrorDocumentFormatNotSupported
	case ErrNotAccepting:
		return e.Code == goipp.StatusErrorNotAcceptingJobs
	}
	return false
}

// StatusName returns the RFC 8011 keyword of an IPP status code, such as
// "client-error-document-format-not-supported".
func StatusName(code int16) string {
	switch code {
	case goipp.StatusOk:
		return "successful-ok"
	case goipp.StatusOkIgnoredOrSubstituted:
		return "successful-ok-ignored-or-substituted-attributes"
	case goipp.StatusOkConflicting:
		return "successful-ok-conflicting-attributes"
	case goipp.StatusErrorBadRequest:
		return "client-error-bad-request"
	case goipp.StatusErrorForbidden:
		return "client-error-forbidden"
	case goipp.StatusErrorNotAuthenticated:
		return "client-error-not-authenticated"
	case goipp.StatusErrorNotAuthorized:
		return "client-error-not-authorized"
	case goipp.StatusErrorNotPossible:
		return "client-error-not-possible"
	case goipp.StatusErrorTimeout:
		return "client-error-timeout"
	case goipp.StatusErrorNotFound:
		return "client-error-not-found"
	case goipp.StatusErrorGone:
		return "client-error-gone"
	case goipp.StatusErrorRequestEntity:
		return "client-error-request-entity-too-large"
	case goipp.StatusErrorRequestValue:
		return "client-error-request-value-too-long"
	case goipp.StatusErrorDocumentFormatNotSupported:
		return "client-error-document-format-not-supported"
	case goipp.StatusErrorAttributesOrValues:
		return "client-error-attributes-or-values-not-supported"
	case goipp.StatusErrorUriScheme:
		return "client-error-uri-scheme-not-supported"
	case goipp.StatusErrorCharset:
		return "client-error-charset-not-supported"
	case goipp.StatusErrorConflicting:
		return "client-error-conflicting-attributes"
	case goipp.StatusErrorCompressionError:
		return "client-error-compression-error"
	case goipp.StatusErrorDocumentFormatError:
		return "client-error-document-format-error"
	case goipp.StatusErrorDocumentAccess:
		return "client-error-document-access-error"
	case goipp.StatusErrorDocumentPassword:
		return "client-error-document-password-error"
	case goipp.StatusErrorDocumentPermission:
		return "client-error-document-permission-error"
	case goipp.StatusErrorDocumentSecurity:
		return "client-error-document-security-error"
	case goipp.StatusErrorDocumentUnprintable:
		return "client-error-document-unprintable-error"
	case goipp.StatusErrorAccountInfoNeeded:
		return "client-error-account-info-needed"
	case goipp.StatusErrorAccountClosed:
		return "client-error-account-closed"
	case goipp.StatusErrorAccountLimitReached:
		return "client-error-account-limit-reached"
	case goipp.StatusErrorAccountAuthorizationFailed:
		return "client-error-account-authorization-failed"
	case goipp.StatusErrorInternal:
		return "server-error-internal-error"
	case goipp.StatusErrorOperationNotSupported:
		return "server-error-operation-not-supported"
	case goipp.StatusErrorServiceUnavailable:
		return "server-error-service-unavailable"
	case goipp.StatusErrorVersionNotSupported:
		return "server-error-version-not-supported"
	case goipp.StatusErrorDevice:
		return "server-error-device-error"
	case goipp.StatusErrorTemporary:
		return "server-error-temporary-error"
	case goipp.StatusErrorNotAcceptingJobs:
		return "server-error-not-accepting-jobs"
	case goipp.StatusErrorBusy:
		return "server-error-busy"
	case goipp.StatusErrorJobCanceled:
		return "server-error-job-canceled"
	case goipp.StatusErrorMultipleJobsNotSupported:
		return "server-error-multiple-document-jobs-not-supported"
	case goipp.StatusErrorPrinterIsDeactivated:
		return "server-error-printer-is-deactivated"
	case goipp.StatusErrorTooManyJobs:
		return "server-error-too-many-jobs"
	case goipp.StatusErrorTooManyDocuments:
		return "server-error-too-many-documents"
	}
	return fmt.Sprintf("ipp-status-0x%04x", uint16(code))
}

// success reports whether a status code means the operation was done
// (possibly with attributes ignored or substituted).
func success(code int16) bool { return code >= 0 && code < 0x0100 }
