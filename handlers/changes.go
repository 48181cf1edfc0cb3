package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/pitcher/connector/internal/apiauth"
	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/mirror"
)

// ChangeLog reads a user's mirror as changes (internal/mirror).
type ChangeLog interface {
	Read(ctx context.Context, tenant, user string, c mirror.Cursor, limit int) ([]mirror.Change, mirror.Cursor, bool, error)
}

var _ ChangeLog = (*mirror.Store)(nil)

// DefaultChangesLimit is the page size of GET /api/changes without limit.
const DefaultChangesLimit = 200

// ChangesResponse is the body of GET /api/changes (docs/architecture.md,
// "Changes API").
type ChangesResponse struct {
	Changes []ChangeItem `json:"changes"`
	// Cursor is where the next call resumes: pass it back as ?cursor=.
	Cursor string `json:"cursor"`
	// More is true when more changes follow right away.
	More bool `json:"more"`
}

// ChangeItem is one change of the caller's mirror.
type ChangeItem struct {
	EntitySet string `json:"entitySet"`
	ID        string `json:"id"`
	Op        string `json:"op"` // "upsert" or "delete"
	// Data is the row as Dynamics returned it for an upsert; null for a delete.
	Data json.RawMessage `json:"data"`
}

// changes is the Changes function: the caller's own change log after a
// cursor. Every read is keyed by the caller's tenant and user, so no
// cursor can reach anyone else's changes.
func changes(log ChangeLog) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, caller apiauth.Caller) {
		q := r.URL.Query()
		var problems []apperr.Problem
		cursor, err := mirror.ParseCursor(q.Get("cursor"))
		if err != nil {
			problems = append(problems, apperr.Problem{Field: "cursor", Message: "is not a cursor this API returned; start again without one to read everything"})
		}
		limit := DefaultChangesLimit
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > mirror.MaxChangesPage {
				problems = append(problems, apperr.Problem{Field: "limit", Message: "must be a whole number from 1 to " + strconv.Itoa(mirror.MaxChangesPage)})
			}
			limit = n
		}
		invocation := r.Header.Get("X-Azure-Functions-InvocationId")
		if len(problems) > 0 {
			writeError(w, apperr.InvalidProblems("the query is not valid", problems), "Changes", invocation)
			return
		}
		list, next, more, err := log.Read(r.Context(), caller.TenantID, caller.UserID, cursor, limit)
		if errors.Is(err, mirror.ErrCursorExpired) {
			writeError(w, apperr.E(apperr.Gone, "the changes after this cursor are older than the connector keeps, or of a change log that no longer exists (you disconnected and connected again); drop the local copy and read again without a cursor"), "Changes", invocation)
			return
		}
		if err != nil {
			writeError(w, apperr.Wrap(apperr.Transient, err, "the changes cannot be read right now; try again"), "Changes", invocation)
			return
		}
		resp := ChangesResponse{Changes: make([]ChangeItem, len(list)), Cursor: next.String(), More: more}
		for i, c := range list {
			resp.Changes[i] = ChangeItem{EntitySet: c.EntitySet, ID: c.ID, Op: c.Op, Data: c.Data}
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

func changesOr501(log ChangeLog) authedFunc {
	if log == nil {
		return notImplementedAuthed("Changes")
	}
	return changes(log)
}
