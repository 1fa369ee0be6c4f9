package hub

import (
	"errors"
	"html/template"
	"net/http"
)

// claimPage is the hub's page of a claim code, which the QR code on a
// pending agent's panel opens (GET /claim?code=CODE): a form of the code,
// a name, a group and the admin token, posted to POST /claim. The form
// carries the admin token itself (never the URL, never a cookie), so a
// forged post gains nothing; no script runs, so the page keeps a strict
// Content-Security-Policy. The portal issue replaces it.
var claimPage = template.Must(template.New("claim").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Claim a printer · Tessera</title>
<style>body{font-family:sans-serif;max-width:28em;margin:2em auto;padding:0 1em}label{display:block;margin:.8em 0 .2em}input{width:100%;padding:.4em;box-sizing:border-box}button{margin-top:1em;padding:.5em 1.5em}.err{color:#a00}</style>
</head><body>
<h1>Claim a printer</h1>
{{if .AgentID}}<p>Claimed: agent <b>{{.AgentID}}</b>{{if .Name}} ({{.Name}}){{end}}. It collects its identity within seconds.</p>
{{else}}{{if .Error}}<p class="err">{{.Error}}</p>{{end}}
<form method="post" action="/claim">
<label for="code">Claim code</label><input id="code" name="code" value="{{.Code}}" required autocomplete="off">
<label for="name">Name</label><input id="name" name="name" value="{{.Name}}">
<label for="group">Group</label><input id="group" name="group" value="{{.Group}}">
<label for="token">Admin token</label><input id="token" name="admin_token" type="password" required autocomplete="off">
<button type="submit">Claim</button>
</form>{{end}}
</body></html>
`))

// claimPageData fills claimPage: the form (with Error after a refusal) or,
// with AgentID, the claim done.
type claimPageData struct {
	Code, Name, Group, Error string
	AgentID                  string
}

func writeClaimPage(w http.ResponseWriter, status int, d claimPageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer") // the claim code is in the URL
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_ = claimPage.Execute(w, d)
}

// serveClaimPage answers GET /claim?code=CODE with the form.
func (s *Server) serveClaimPage(w http.ResponseWriter, r *http.Request) {
	writeClaimPage(w, http.StatusOK, claimPageData{Code: r.URL.Query().Get("code")})
}

// claimByPage answers the form's POST /claim: the claim of POST
// /api/v1/agents/claim, behind the admin token the form carries.
func (s *Server) claimByPage(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8192)
	if err := r.ParseForm(); err != nil {
		writeClaimPage(w, http.StatusBadRequest, claimPageData{Error: "The form could not be read."})
		return
	}
	f := r.PostForm
	d := claimPageData{Code: f.Get("code"), Name: f.Get("name"), Group: f.Get("group")}
	if !s.adminOK(f.Get("admin_token")) {
		d.Error = "Wrong admin token."
		writeClaimPage(w, http.StatusUnauthorized, d)
		return
	}
	code, ok := normalizeCode(d.Code, claimCodeLen)
	var err error = errNotFound("no pending agent with this claim code (or it expired)")
	if !validLabel(d.Name, maxNameLen) || !validLabel(d.Group, maxGroupLen) {
		err = errInvalid("name or group: too long or with control characters")
	} else if ok {
		var keyHash []byte
		d.AgentID, keyHash, err = s.claim(r.Context(), code, claimDoc{Name: d.Name, Group: d.Group})
		if err == nil {
			s.log.Info("agent claimed (claim page)", "agent", d.AgentID, "name", d.Name, "group", d.Group)
			s.claimed(d.AgentID, keyHash)
			writeClaimPage(w, http.StatusOK, d)
			return
		}
	}
	var ae *apiError
	if !errors.As(err, &ae) {
		s.log.Error("claim page", "err", err)
		ae = &apiError{status: http.StatusInternalServerError, message: "Something went wrong; try again."}
	}
	d.AgentID, d.Error = "", ae.message
	writeClaimPage(w, ae.status, d)
}
