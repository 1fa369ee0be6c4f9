// Package localspool is the agent's own IPP endpoint (serverless or local
// mode): workstations print to ipp://agent:PORT/ipp/print, and the jobs wait,
// encrypted on the agent's disk, until their owner releases them at the
// printer. It is a release.Source ("local"). With a Direct callback it also
// serves /ipp/direct, a queue that prints at once.
//
// Encryption. Every document and its metadata are stored as age files
// (filippo.io/age, X25519) to a per-device identity kept in a 0600 key file.
// age's payload is an authenticated chunked STREAM (ChaCha20-Poly1305, 64 KiB
// chunks, the last chunk flagged), so truncation, reordering and tampering
// are errors from Read, never a silently short document. age rather than a
// construction of our own because the format is specified and reviewed, its
// random-access reader lets pdfpages count the pages of a held PDF straight
// from the ciphertext (no plaintext ever touches the disk), and a technician
// can recover a job with the stock `age -d -i KEYFILE` tool.
//
// The metadata (owner, job name, format, page count, ...) is encrypted too:
// job names and user names are personal data ("salary review.pdf", "jdoe"),
// and encrypting them costs one small age file per job.
//
// Crash safety. A job is written to temporary files (fsynced), then the
// document is renamed into place and the metadata last: the metadata file is
// the commit marker. At start, documents without metadata and temporary files
// are removed, so a power cut never leaves a half job that looks whole.
//
// Who may act on a job. With Config.Users (ipp_auth), the authenticated
// user owns the job; a success is remembered for a minute. Without it,
// requesting-user-name is the workstation's word, so a job is also tied to
// the IP address that submitted it (kept, encrypted, in its metadata): its
// details, Get-Jobs listing, Send-Document and Cancel-Job are for that
// name from that address only (docs/local-queue.md, Trust).
//
// Requests come from the network and are untrusted: they are decoded with
// github.com/OpenPrinting/goipp (as printer/virtual does; what every IPP
// server here shares is in internal/ippserver), with the attributes bounded
// to 64 KiB and the document bounded by MaxJobSize, the spool quota and the
// free-space reserve while it streams, and cut when it stalls for
// BodyTimeout.
package localspool
