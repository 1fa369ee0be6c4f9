package firmware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// DownloadError is a download that failed; Temporary says whether trying
// again later may succeed (the network, the server's 5xx, 408, 429) or
// not (another 4xx, a file larger than allowed).
type DownloadError struct {
	Temporary bool
	Err       error
}

func (e *DownloadError) Error() string { return e.Err.Error() }
func (e *DownloadError) Unwrap() error { return e.Err }

func temporary(err error) error { return &DownloadError{Temporary: true, Err: err} }
func permanent(err error) error { return &DownloadError{Err: err} }

// Download fetches url to path. What arrives goes to path+".partial"
// first; a later call resumes it with an HTTP Range request (If-Range
// with the ETag the server gave, kept in path+".etag", so that a file
// changed on the server starts again from nothing). path gets the file
// only once it is whole. At most maxSize bytes are taken. What path then
// holds is not verified: Verify does that.
func Download(ctx context.Context, client *http.Client, url, path string, maxSize int64) error {
	partial, etagFile := path+".partial", path+".etag"
	have := int64(0)
	if st, err := os.Stat(partial); err == nil {
		have = st.Size()
	}
	etag, _ := os.ReadFile(etagFile)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return permanent(fmt.Errorf("download: %w", err))
	}
	if have > 0 && len(etag) > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
		req.Header.Set("If-Range", string(etag))
	}
	resp, err := client.Do(req)
	if err != nil {
		return temporary(fmt.Errorf("download: %w", withoutURL(err)))
	}
	defer resp.Body.Close()
	flags := os.O_WRONLY | os.O_CREATE
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0 && rangeStart(resp) == have:
		flags |= os.O_APPEND
	case resp.StatusCode == http.StatusOK:
		flags |= os.O_TRUNC
		have = 0
		if err := saveETag(etagFile, resp.Header.Get("ETag")); err != nil {
			return temporary(err)
		}
	default:
		return statusError(resp, partial, etagFile)
	}
	if total := expectedTotal(resp, have); total > maxSize {
		return permanent(fmt.Errorf("download: %d bytes, more than the %d allowed", total, maxSize))
	}
	return writePartial(resp.Body, partial, path, etagFile, flags, have, maxSize)
}

// writePartial appends (or writes) the body to partial and renames it to
// path once the body ended.
func writePartial(body io.Reader, partial, path, etagFile string, flags int, have, maxSize int64) error {
	f, err := os.OpenFile(partial, flags, 0o600)
	if err != nil {
		return temporary(err)
	}
	n, err := io.Copy(f, io.LimitReader(body, maxSize-have+1))
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return temporary(fmt.Errorf("download: after %d bytes: %w", have+n, err))
	}
	if have+n > maxSize {
		os.Remove(partial)
		return permanent(fmt.Errorf("download: more than the %d bytes allowed", maxSize))
	}
	if err := os.Rename(partial, path); err != nil {
		return temporary(err)
	}
	os.Remove(etagFile)
	return nil
}

// statusError is an answer that brought no file. A Range the server
// cannot satisfy (416) starts the file again next time.
func statusError(resp *http.Response, partial, etagFile string) error {
	err := fmt.Errorf("download: HTTP %s", resp.Status)
	switch c := resp.StatusCode; {
	case c == http.StatusRequestedRangeNotSatisfiable, c == http.StatusPartialContent:
		os.Remove(partial)
		os.Remove(etagFile)
		return temporary(err)
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests, c >= 500:
		return temporary(err)
	default:
		return permanent(err)
	}
}

// rangeStart is the first byte a 206's Content-Range holds, -1 if unknown.
func rangeStart(resp *http.Response) int64 {
	cr := strings.TrimPrefix(resp.Header.Get("Content-Range"), "bytes ")
	start, _, ok := strings.Cut(cr, "-")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(start, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// expectedTotal is the whole file's size as the answer gives it, -1 when
// it does not.
func expectedTotal(resp *http.Response, have int64) int64 {
	if resp.StatusCode == http.StatusPartialContent {
		if _, total, ok := strings.Cut(resp.Header.Get("Content-Range"), "/"); ok {
			if n, err := strconv.ParseInt(total, 10, 64); err == nil {
				return n
			}
		}
		return -1
	}
	if resp.ContentLength >= 0 {
		return have + resp.ContentLength
	}
	return -1
}

func saveETag(path, etag string) error {
	// Only a strong ETag may validate a range (RFC 9110, 13.1.5).
	if etag == "" || strings.HasPrefix(etag, "W/") {
		return removeIfExists(path)
	}
	return os.WriteFile(path, []byte(etag), 0o600)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// withoutURL is err without the URL net/http puts in it: a presigned
// download URL carries a credential, and errors reach logs and the hub.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
