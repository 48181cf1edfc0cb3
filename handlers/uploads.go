package handlers

import (
	"context"
	"net/http"
	"net/url"

	"github.com/pitcher/connector/internal/apiauth"
	"github.com/pitcher/connector/internal/funcwire"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/uploader"
)

func owner(c apiauth.Caller) uploader.Owner {
	return uploader.Owner{TenantID: c.TenantID, UserID: c.UserID, OrgURL: c.OrgURL}
}

func (l links) upload(id string) string { return l.base + "/api/uploads/" + url.PathEscape(id) }

// uploadIntake is UploadIntake: POST /api/uploads, a meeting report from
// the app. A new report is answered 202 Accepted, a repeat of one already
// accepted 200 with its current status; both with the status URL in
// Location and in the body.
func uploadIntake(u Uploads, l links) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, caller apiauth.Caller) {
		st, accepted, err := u.Accept(r.Context(), owner(caller), r.Header.Get("Content-Type"), r.Body)
		if err != nil {
			writeError(w, err, "UploadIntake", r.Header.Get("X-Azure-Functions-InvocationId"))
			return
		}
		st.StatusURL = l.upload(st.UploadID)
		w.Header().Set("Location", st.StatusURL)
		status := http.StatusOK
		if accepted {
			status = http.StatusAccepted
		}
		writeJSON(w, status, st)
	}
}

// uploadStatus is UploadStatus: GET /api/uploads/{id}, one of the
// caller's own uploads (another user's id is simply not found).
func uploadStatus(u Uploads, l links) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, caller apiauth.Caller) {
		st, err := u.Status(r.Context(), owner(caller), r.PathValue("id"))
		if err != nil {
			writeError(w, err, "UploadStatus", r.Header.Get("X-Azure-Functions-InvocationId"))
			return
		}
		st.StatusURL = l.upload(st.UploadID)
		writeJSON(w, http.StatusOK, st)
	}
}

// uploadWorker is UploadWorker: one delivery of an uploads message. A
// malformed message fails every delivery and so reaches the dead-letter
// queue, where an operator sees it.
func uploadWorker(u Uploads) invocationFunc {
	return func(ctx context.Context, inv *Invocation) error {
		m, err := funcwire.DecodeServiceBus(inv.Request, "upload")
		if err != nil {
			return err
		}
		msg, err := queue.DecodeUpload(m.Body)
		if err != nil {
			return err
		}
		obs.SetUser(ctx, msg.TenantID, msg.UserID)
		what, err := u.Process(ctx, msg, m.DeliveryCount)
		if err != nil {
			return err
		}
		inv.Logf("upload %s (message %s, delivery %d): %s", msg.UploadID, m.MessageID, m.DeliveryCount, what)
		return nil
	}
}
