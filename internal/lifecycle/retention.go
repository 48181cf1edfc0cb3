package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pitcher/connector/internal/store"
)

// Retention are the retention settings (RETENTION_INACTIVE,
// RETENTION_UPLOADS, RETENTION_MAX_PER_RUN).
type Retention struct {
	// Inactive: a connection that needs reauthorization (or never finished
	// its sign-in) for longer is erased.
	Inactive time.Duration
	// Uploads: a finished upload (done, failed, cancelled) older than this
	// is deleted with its blobs.
	Uploads time.Duration
	// MaxPerRun bounds the erasures and upload deletions of one run; the
	// next run continues where it stopped.
	MaxPerRun int
}

// RetentionReport is what one retention run did.
type RetentionReport struct {
	// Continued: erasures and offboardings that had not finished, run again.
	Continued int
	// Inactive: connections erased (or begun erasing) for inactivity.
	Inactive int
	// Uploads: finished uploads deleted; AuthFlows: abandoned sign-ins deleted.
	Uploads, AuthFlows int
	// More: the run stopped at MaxPerRun; the next one goes on from there.
	More bool
}

// Retain runs the retention once: it goes on with erasures and
// offboardings that did not finish (a lost continuation message), erases
// connections inactive for longer than r.Inactive, deletes finished
// uploads older than r.Uploads and abandoned sign-in flows. Where a scan
// stops at r.MaxPerRun is stored, so the next run continues from there.
func (e *Eraser) Retain(ctx context.Context, r Retention) (RetentionReport, error) {
	now := e.d.Now().UTC()
	var rep RetentionReport
	budget := r.MaxPerRun
	var errs []error

	// Erasures and offboardings that did not finish.
	err := e.scanConnections(ctx, "erasing", "Status eq '"+store.StatusErasing+"'", &budget, &rep.More, func(c store.Connection) error {
		rep.Continued++
		_, err := e.EraseUser(ctx, c.TenantID, c.UserID, Request{Kind: c.Erasure.Kind, By: c.Erasure.By})
		return err
	})
	errs = append(errs, err)
	tenants, err := e.d.Tenants.List(ctx)
	errs = append(errs, err)
	for _, t := range tenants {
		if t.OffboardingAt.IsZero() || budget <= 0 {
			continue
		}
		budget--
		rep.Continued++
		_, err := e.OffboardTenant(ctx, t.ID, t.OffboardingBy)
		errs = append(errs, err)
	}

	// Inactive connections.
	cutoff := edmTime(now.Add(-r.Inactive))
	filter := fmt.Sprintf("(Status eq '%s' or Status eq '%s') and StatusChangedAt lt %s", store.StatusReauthRequired, store.StatusPending, cutoff)
	err = e.scanConnections(ctx, "inactive", filter, &budget, &rep.More, func(c store.Connection) error {
		rep.Inactive++
		_, err := e.EraseUser(ctx, c.TenantID, c.UserID, Request{Kind: store.ErasureRetention, By: "retention"})
		return err
	})
	errs = append(errs, err)

	// Finished uploads.
	counts := Counts{}
	filter = fmt.Sprintf("(Status eq '%s' or Status eq '%s' or Status eq '%s') and UpdatedAt lt %s",
		store.UploadDone, store.UploadFailed, store.UploadCancelled, edmTime(now.Add(-r.Uploads)))
	err = e.scanUploads(ctx, filter, &budget, &rep.More, func(u store.Upload) error {
		for _, c := range e.d.Blobs {
			if c.Uploads {
				if err := e.deletePrefix(ctx, c, u.TenantID+"/"+u.UserID+"/"+u.UploadID+"/", counts); err != nil {
					return err
				}
			}
		}
		if err := e.d.Uploads.Delete(ctx, u.TenantID, u.UserID, u.UploadID); err != nil {
			return err
		}
		counts[store.UploadsTable]++
		rep.Uploads++
		return nil
	})
	errs = append(errs, err)

	// Abandoned sign-in flows.
	for i := 0; i < 100; i++ {
		n, err := e.d.Flows.Sweep(ctx, now, 1000)
		rep.AuthFlows += n
		if err != nil || n < 1000 {
			errs = append(errs, err)
			break
		}
	}
	counts[store.AuthFlowsTable] += int64(rep.AuthFlows)
	if counts.total() > 0 {
		errs = append(errs, e.d.Audit.Record(ctx, store.ErasureRecord{Kind: store.ErasureUploads, By: "retention",
			RequestedAt: now, CompletedAt: e.d.Now().UTC(), Counts: counts.String()}))
	}
	e.d.Logger.Info("retention ran", "continued", rep.Continued, "inactive", rep.Inactive, "uploads", rep.Uploads, "authFlows", rep.AuthFlows, "more", rep.More)
	return rep, errors.Join(errs...)
}

// edmTime is t as an OData DateTime literal.
func edmTime(t time.Time) string {
	return "datetime'" + t.UTC().Format("2006-01-02T15:04:05.0000000Z") + "'"
}

// scanConnections hands the connections filter selects to fn, from where
// the scan name stopped last, spending budget; it records where it stops.
func (e *Eraser) scanConnections(ctx context.Context, name, filter string, budget *int, more *bool, fn func(store.Connection) error) error {
	return e.resumable(ctx, name, budget, more, func(pk, rk string, max int, count func()) (string, string, error) {
		return e.d.Conns.Scan(ctx, filter, pk, rk, max, func(c store.Connection) error { count(); return fn(c) })
	})
}

// scanUploads is scanConnections over the uploads table.
func (e *Eraser) scanUploads(ctx context.Context, filter string, budget *int, more *bool, fn func(store.Upload) error) error {
	return e.resumable(ctx, "uploads", budget, more, func(pk, rk string, max int, count func()) (string, string, error) {
		return e.d.Uploads.Scan(ctx, filter, pk, rk, max, func(u store.Upload) error { count(); return fn(u) })
	})
}

// resumable runs one bounded scan from its stored cursor and stores the
// next one.
func (e *Eraser) resumable(ctx context.Context, name string, budget *int, more *bool,
	scan func(pk, rk string, max int, count func()) (string, string, error)) error {
	if *budget <= 0 {
		*more = true
		return nil
	}
	pk, rk, err := e.d.Audit.Cursor(ctx, name)
	if err != nil {
		return err
	}
	nextPK, nextRK, err := scan(pk, rk, *budget, func() { *budget-- })
	if err != nil {
		return err
	}
	if nextPK != "" {
		*more = true
	}
	return e.d.Audit.SetCursor(ctx, name, nextPK, nextRK)
}
