package dataversesim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// serveAdmin is the /_sim/ admin API: the Go control methods over HTTP, for
// tests that run the simulator as a separate process. It needs no token;
// the simulator is for loopback use only.
//
//	GET    /_sim/state                      {"counts":{set:n},"now":time,"requests":n}
//	POST   /_sim/seed                       {"rows":n,"sets":[...]}
//	POST   /_sim/tables/{set}               values -> 201 {"id":…}
//	GET    /_sim/tables/{set}/{id}          the row, or 404
//	PATCH  /_sim/tables/{set}/{id}          values -> 204
//	DELETE /_sim/tables/{set}/{id}          204
//	POST   /_sim/tables/{set}/{id}/notes?filename=…&mimetype=…&subject=…&notetext=…
//	                                        the raw file as the body -> 201 {"id":…,"filesize":n}
//	POST   /_sim/tables/{set}/{id}/assign   {"ownerSet":"systemusers|teams","ownerId":…} -> 204 (AssignRow)
//	POST   /_sim/users                      {"fullname","businessUnitId"} -> 201 {"id":…} (CreateUser)
//	POST   /_sim/callers                    {"tenant","oid"} -> 200 {"id":…}: the caller's user, created if new (EnsureCaller)
//	GET    /_sim/teams/{team}/members       {"members":[user ids]} (TeamMembers)
//	PUT    /_sim/teams/{team}/members/{user} 204 (AddTeamMember); DELETE: 204 (RemoveTeamMember)
//	GET|PUT /_sim/throttle                  {"requests","windowSeconds","concurrency","executionTimeSeconds"}
//	GET|PUT /_sim/faults                    {"errorRate","resetRate","afterRate","latencyMs","randomSeed"}
//	POST   /_sim/faults/next                {"status","count","method","path","retryAfter","after"}
//	POST   /_sim/changetracking/expire      204: every delta token so far expires
//	PUT    /_sim/tables/{set}/changetracking {"enabled":bool} -> 204
//	PUT    /_sim/privileges                 {"entitySet","access":"read|create|write|delete","granted":bool} -> 204
//	POST   /_sim/clock/advance              {"seconds":n} -> {"now":time}
//	POST   /_sim/journal/enable             204: the write journal starts (EnableJournal)
//	GET    /_sim/journal/{set}/{id}         {"entries":[{"version","deleted","values"}]} (Journal);
//	                                        409 while the journal is off, 404 for an unknown set
func (s *Sim) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_sim/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"counts": s.Counts(), "now": s.Now(), "requests": s.Requests()})
	})
	mux.HandleFunc("POST /_sim/seed", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Rows int      `json:"rows"`
			Sets []string `json:"sets"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		if in.Rows < 0 {
			adminError(w, http.StatusBadRequest, "rows must be zero or more")
			return
		}
		if err := s.Seed(in.Rows, in.Sets...); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"counts": s.Counts()})
	})
	mux.HandleFunc("POST /_sim/tables/{set}", func(w http.ResponseWriter, r *http.Request) {
		var values map[string]any
		if !readJSON(w, r, &values) {
			return
		}
		id, err := s.CreateRow(r.PathValue("set"), values)
		if err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusCreated, map[string]string{"id": id})
	})
	mux.HandleFunc("GET /_sim/tables/{set}/{id}", func(w http.ResponseWriter, r *http.Request) {
		row, ok := s.GetRow(r.PathValue("set"), r.PathValue("id"))
		if !ok {
			adminError(w, http.StatusNotFound, fmt.Sprintf("no row %s in %s", r.PathValue("id"), r.PathValue("set")))
			return
		}
		writeJSON(w, http.StatusOK, row)
	})
	mux.HandleFunc("PATCH /_sim/tables/{set}/{id}", func(w http.ResponseWriter, r *http.Request) {
		var values map[string]any
		if !readJSON(w, r, &values) {
			return
		}
		if err := s.UpdateRow(r.PathValue("set"), r.PathValue("id"), values); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /_sim/tables/{set}/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.DeleteRow(r.PathValue("set"), r.PathValue("id")); err != nil {
			adminError(w, http.StatusNotFound, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sim/tables/{set}/{id}/notes", s.adminAttach)
	mux.HandleFunc("POST /_sim/tables/{set}/{id}/assign", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			OwnerSet string `json:"ownerSet"`
			OwnerID  string `json:"ownerId"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		if err := s.AssignRow(r.PathValue("set"), r.PathValue("id"), in.OwnerSet, in.OwnerID); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sim/users", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			FullName       string `json:"fullname"`
			BusinessUnitID string `json:"businessUnitId"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		id, err := s.CreateUser(in.FullName, in.BusinessUnitID)
		if err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusCreated, map[string]string{"id": id})
	})
	mux.HandleFunc("POST /_sim/callers", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Tenant string `json:"tenant"`
			OID    string `json:"oid"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		if in.Tenant == "" || in.OID == "" {
			adminError(w, http.StatusBadRequest, "tenant and oid are required: the caller's Entra tenant id and object id")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"id": s.EnsureCaller(in.Tenant, in.OID)})
	})
	mux.HandleFunc("GET /_sim/teams/{team}/members", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.GetRow("teams", r.PathValue("team")); !ok {
			adminError(w, http.StatusNotFound, fmt.Sprintf("no team %s", r.PathValue("team")))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"members": append([]string{}, s.TeamMembers(r.PathValue("team"))...)})
	})
	member := func(add bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if e := s.teamMember(r.PathValue("team"), r.PathValue("user"), add); e != nil {
				adminError(w, e.status, e.message)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}
	mux.HandleFunc("PUT /_sim/teams/{team}/members/{user}", member(true))
	mux.HandleFunc("DELETE /_sim/teams/{team}/members/{user}", member(false))
	mux.HandleFunc("GET /_sim/throttle", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, throttleJSONOf(s.Throttle()))
	})
	mux.HandleFunc("PUT /_sim/throttle", func(w http.ResponseWriter, r *http.Request) {
		var in throttleJSON
		if !readJSON(w, r, &in) {
			return
		}
		if in.Requests < 0 || in.WindowSeconds < 0 || in.Concurrency < 0 || in.ExecutionTimeSeconds < 0 {
			adminError(w, http.StatusBadRequest, "requests, windowSeconds, concurrency and executionTimeSeconds must be zero (default) or more")
			return
		}
		s.SetThrottle(in.throttle())
		writeJSON(w, http.StatusOK, throttleJSONOf(s.Throttle()))
	})
	mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, faultsJSONOf(s.Faults()))
	})
	mux.HandleFunc("PUT /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var in faultsJSON
		if !readJSON(w, r, &in) {
			return
		}
		if in.ErrorRate < 0 || in.ResetRate < 0 || in.AfterRate < 0 || in.ErrorRate+in.ResetRate+in.AfterRate > 1 || in.LatencyMs < 0 {
			adminError(w, http.StatusBadRequest, "errorRate, resetRate and afterRate must be between 0 and 1 together, latencyMs zero or more")
			return
		}
		s.SetFaults(Faults{ErrorRate: in.ErrorRate, ResetRate: in.ResetRate, AfterRate: in.AfterRate, Latency: time.Duration(in.LatencyMs) * time.Millisecond, RandomSeed: in.RandomSeed})
		writeJSON(w, http.StatusOK, faultsJSONOf(s.Faults()))
	})
	mux.HandleFunc("POST /_sim/faults/next", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !readJSON(w, r, &f) {
			return
		}
		if f.Status != 0 && (f.Status < 400 || f.Status > 599) || f.Count < 0 || f.RetryAfter < 0 {
			adminError(w, http.StatusBadRequest, "status must be 0 (reset) or 400-599, count and retryAfter zero or more")
			return
		}
		if f.After && !AfterStatusOK(f.Status) {
			adminError(w, http.StatusBadRequest, "with after, status must be 0 (reset), 500, 502, 503 or 504: the answer of a request that ran is lost")
			return
		}
		s.FailNext(f)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sim/changetracking/expire", func(w http.ResponseWriter, r *http.Request) {
		s.ExpireDeltaTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /_sim/tables/{set}/changetracking", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Enabled bool `json:"enabled"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		if err := s.SetChangeTracking(r.PathValue("set"), in.Enabled); err != nil {
			adminError(w, http.StatusNotFound, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /_sim/privileges", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			EntitySet string `json:"entitySet"`
			Access    string `json:"access"`
			Granted   bool   `json:"granted"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		if err := s.SetPrivilege(in.EntitySet, in.Access, in.Granted); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sim/clock/advance", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Seconds float64 `json:"seconds"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		if in.Seconds < 0 {
			adminError(w, http.StatusBadRequest, "seconds must be zero or more: the clock only moves forward")
			return
		}
		s.Advance(time.Duration(in.Seconds * float64(time.Second)))
		writeJSON(w, http.StatusOK, map[string]any{"now": s.Now()})
	})
	mux.HandleFunc("POST /_sim/journal/enable", func(w http.ResponseWriter, r *http.Request) {
		s.EnableJournal()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sim/journal/{set}/{id}", func(w http.ResponseWriter, r *http.Request) {
		set := r.PathValue("set")
		if _, ok := s.Counts()[set]; !ok {
			adminError(w, http.StatusNotFound, fmt.Sprintf("no entity set %s", set))
			return
		}
		if !s.journalOn() {
			adminError(w, http.StatusConflict, "the write journal is off: turn it on with POST /_sim/journal/enable (or Options.Journal) before the writes to look at")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"entries": s.Journal(set, r.PathValue("id"))})
	})
	return mux
}

// attachSlack is how far past maxuploadfilesize an attachment's body may go
// before the admin API stops reading it: the limit is on the Base64 text,
// a third longer than the file, so AttachFile decides every file that could
// fit, and refuses the ones that do not as the Web API does.
const attachSlack = 64 << 10

// adminAttach attaches the request body, the raw file, to a row as a note
// (AttachFile), so `curl --data-binary @file` works.
func (s *Sim) adminAttach(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("filename") == "" {
		adminError(w, http.StatusBadRequest, "the filename query parameter is required: the name of the file the body holds")
		return
	}
	maxUpload := s.maxUploadFileSize()
	tooBig := func(why string) {
		adminError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s The organization's maxuploadfilesize is %d bytes of Base64 text, so a file of at most %d bytes fits.",
			why, maxUpload, maxUpload/4*3))
	}
	limit := int64(maxUpload) + attachSlack
	if r.ContentLength > limit {
		tooBig("The file is too big.")
		return
	}
	content, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var over *http.MaxBytesError
	if errors.As(err, &over) {
		tooBig("The file is too big.")
		return
	}
	if err != nil {
		adminError(w, http.StatusBadRequest, "the file could not be read: "+err.Error())
		return
	}
	id, e := s.attachFile(r.PathValue("set"), r.PathValue("id"), Attachment{
		Subject: q.Get("subject"), NoteText: q.Get("notetext"), FileName: q.Get("filename"), MimeType: q.Get("mimetype"), Content: content,
	})
	switch {
	case e == nil:
		writeJSON(w, http.StatusCreated, map[string]any{"id": id, "filesize": len(content)})
	case e.code == codeFileTooBig:
		tooBig(e.code + " " + e.message)
	case e.status == http.StatusNotFound:
		adminError(w, http.StatusNotFound, e.message)
	default:
		adminError(w, http.StatusBadRequest, e.code+" "+e.message)
	}
}

type throttleJSON struct {
	Requests             int     `json:"requests"`
	WindowSeconds        float64 `json:"windowSeconds"`
	Concurrency          int     `json:"concurrency"`
	ExecutionTimeSeconds float64 `json:"executionTimeSeconds"`
}

func (j throttleJSON) throttle() Throttle {
	return Throttle{Requests: j.Requests, Window: time.Duration(j.WindowSeconds * float64(time.Second)), Concurrency: j.Concurrency,
		ExecutionTime: time.Duration(j.ExecutionTimeSeconds * float64(time.Second))}
}

func throttleJSONOf(t Throttle) throttleJSON {
	return throttleJSON{Requests: t.Requests, WindowSeconds: t.Window.Seconds(), Concurrency: t.Concurrency, ExecutionTimeSeconds: t.ExecutionTime.Seconds()}
}

type faultsJSON struct {
	ErrorRate  float64 `json:"errorRate"`
	ResetRate  float64 `json:"resetRate"`
	AfterRate  float64 `json:"afterRate"`
	LatencyMs  int64   `json:"latencyMs"`
	RandomSeed uint64  `json:"randomSeed"`
}

func faultsJSONOf(f Faults) faultsJSON {
	return faultsJSON{ErrorRate: f.ErrorRate, ResetRate: f.ResetRate, AfterRate: f.AfterRate, LatencyMs: f.Latency.Milliseconds(), RandomSeed: f.RandomSeed}
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminError(w, http.StatusBadRequest, "the body must be a JSON object with the documented fields: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func adminError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"message": msg}})
}
