package hub

import (
	"context"
	"net/http"
	"time"
)

// healthCheckTimeout bounds the database check of /healthz and of a
// failed admin call.
const healthCheckTimeout = 2 * time.Second

// healthz answers a load balancer: 200 while the hub and its database
// answer, 503 otherwise (a node on PostgreSQL whose database is
// unreachable is taken out, its agents' connections stay).
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if !s.databaseUp(r.Context()) {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": "unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "database": "ok"})
}

// databaseUp reports whether the database answers a query now.
func (s *Server) databaseUp(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
	defer cancel()
	var one int
	return s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one) == nil
}
