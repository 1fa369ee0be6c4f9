package localspool

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/OpenPrinting/goipp"
)

// FuzzHandler feeds arbitrary request bodies to both queues: whatever
// arrives, the handler answers without panicking, with a decodable
// response, and keeps its byte accounting straight. The first byte picks
// the queue and whether the request carries (wrong) credentials.
func FuzzHandler(f *testing.F) {
	ops := []goipp.Op{goipp.OpGetPrinterAttributes, goipp.OpPrintJob, goipp.OpValidateJob, goipp.OpCreateJob,
		goipp.OpSendDocument, goipp.OpGetJobs, goipp.OpGetJobAttributes, goipp.OpCancelJob}
	for i, op := range ops {
		req := ippRequest(op, "ipp://localhost/ipp/print", "alice")
		req.Operation.Add(goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(1)))
		req.Operation.Add(goipp.MakeAttr("last-document", goipp.TagBoolean, goipp.Boolean(true)))
		req.Operation.Add(goipp.MakeAttr("requested-attributes", goipp.TagKeyword, goipp.String("all")))
		req.Operation.Add(goipp.MakeAttr("which-jobs", goipp.TagKeyword, goipp.String("all")))
		req.Operation.Add(goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String("application/octet-stream")))
		req.Job.Add(goipp.MakeAttr("copies", goipp.TagInteger, goipp.Integer(2)))
		req.Job.Add(goipp.MakeAttrCollection("media-col",
			goipp.MakeAttr("media-size", goipp.TagBeginCollection, goipp.Collection{
				goipp.MakeAttr("x-dimension", goipp.TagInteger, goipp.Integer(21000))})))
		b, _ := req.EncodeBytes()
		f.Add(append([]byte{byte(i)}, append(b, "%PDF-1.4\n1 0 obj <</Type/Page>> endobj\ntrailer <</Root 1 0 R>>"...)...))
	}
	dir := f.TempDir()
	direct := func(ctx context.Context, j DirectJob) (int, error) {
		_, err := io.Copy(io.Discard, j.Body)
		return 1, err
	}
	open := func(name string, users func(context.Context, string, string) error) *Spool {
		s, err := New(Config{Dir: filepath.Join(dir, name), KeyFile: filepath.Join(dir, name+".key"),
			MaxJobSize: 4096, Quota: 8 << 20, Direct: direct, Users: users})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { s.Close() })
		return s
	}
	// Spools shared by all inputs of a worker, so that jobs from earlier
	// inputs are there for later ones to query and cancel.
	open1 := open("open", nil)
	auth := open("auth", checkUsers("alice", "pw"))
	handlers := []http.Handler{open1.Handler(), auth.Handler()}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		sel, body := in[0], in[1:]
		path := "/ipp/print"
		if sel&1 == 1 {
			path = "/ipp/direct"
		}
		s := []*Spool{open1, auth}[sel>>1&1]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", goipp.ContentType)
		if sel&4 != 0 {
			req.SetBasicAuth("alice", "pw")
		}
		w := httptest.NewRecorder()
		handlers[sel>>1&1].ServeHTTP(w, req)
		if w.Code == http.StatusOK {
			var m goipp.Message
			if err := m.DecodeBytes(w.Body.Bytes()); err != nil {
				t.Fatalf("undecodable response: %v", err)
			}
		}
		s.mu.Lock()
		used, inflight := s.used, s.inflight
		s.mu.Unlock()
		if used < 0 || inflight < 0 || used > s.cfg.Quota {
			t.Fatalf("accounting: used %d, inflight %d", used, inflight)
		}
	})
}
