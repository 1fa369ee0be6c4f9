// Package cupssource is the release engine's CUPS job source: a CUPS
// queue where users print with job-hold-until=indefinite, so that their
// jobs wait there until they are released at a printer the agent serves.
//
// The agent acts on the queue as one configured operator (a member of
// CUPS's SystemGroup, or root when cupsd has DefaultAuthType None): it
// lists the held jobs with Get-Jobs, takes a job's original document with
// CUPS-Get-Document (operation 0x4027) and prints it on its own printer
// (so that it can count and charge), then purges the CUPS job with
// Cancel-Job purge-job=true.
//
// go-ipp reads whole responses into memory, which a document of hundreds
// of megabytes must not be; so the IPP exchange here is net/http plus a
// bounded reader of the attribute section, decoded with
// github.com/OpenPrinting/goipp, and the document that follows the
// end-of-attributes tag is handed to the engine as a stream. Everything
// CUPS answers is outside data: lengths, sizes and nesting are bounded
// before anything is allocated.
package cupssource
