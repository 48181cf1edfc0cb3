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
	// Unfinished are the user erasures this run began or continued that
	// wait for something (an upload being written, a sync's lease): the
	// caller schedules their continuations.
	Unfinished []Unfinished
}

// Unfinished is a user's erasure to go on with at At.
type Unfinished struct {
	TenantID, UserID string
	At               time.Time
}

// Retain runs the retention once: it goes on with erasures and
// offboardings that did not finish (a lost continuation message), erases
// connections inactive for longer than r.Inactive, deletes finished
// uploads older than r.Uploads and abandoned sign-in flows, at most
// r.MaxPerRun erasures and deletions; the next run continues with the rest.
func (e *Eraser) Retain(ctx context.Context, r Retention) (RetentionReport, error) {
	now := e.d.Now().UTC()
	var rep RetentionReport
	budget := r.MaxPerRun
	var errs []error

	// Erasures and offboardings that did not finish.
	// (Users of a tenant being offboarded are finished by its offboarding.)
	err := e.scanConnections(ctx, fmt.Sprintf("Status eq '%s' and ErasureKind ne '%s'", store.StatusErasing, store.ErasureOffboard), &budget, &rep.More, func(c store.Connection) error {
		rep.Continued++
		res, err := e.EraseUser(ctx, c.TenantID, c.UserID, Request{Continue: true})
		rep.unfinished(c, res, err)
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
		_, err := e.ContinueOffboarding(ctx, t.ID)
		errs = append(errs, err)
	}

	// Inactive connections.
	cutoff := edmTime(now.Add(-r.Inactive))
	filter := fmt.Sprintf("(Status eq '%s' or Status eq '%s') and StatusChangedAt lt %s", store.StatusReauthRequired, store.StatusPending, cutoff)
	err = e.scanConnections(ctx, filter, &budget, &rep.More, func(c store.Connection) error {
		rep.Inactive++
		res, err := e.EraseUser(ctx, c.TenantID, c.UserID, Request{Kind: store.ErasureRetention, By: "retention"})
		rep.unfinished(c, res, err)
		return err
	})
	errs = append(errs, err)

	// Finished uploads.
	counts := Counts{}
	filter = fmt.Sprintf("(Status eq '%s' or Status eq '%s' or Status eq '%s' or Status eq '%s') and UpdatedAt lt %s",
		store.UploadDone, store.UploadFailed, store.UploadConflict, store.UploadCancelled, edmTime(now.Add(-r.Uploads)))
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

// unfinished notes an erasure that must go on.
func (r *RetentionReport) unfinished(c store.Connection, res Result, err error) {
	if err == nil && !res.Done {
		r.Unfinished = append(r.Unfinished, Unfinished{TenantID: c.TenantID, UserID: c.UserID, At: res.RetryAt})
	}
}

// edmTime is t as an OData DateTime literal.
func edmTime(t time.Time) string {
	return "datetime'" + t.UTC().Format("2006-01-02T15:04:05.0000000Z") + "'"
}

// scanConnections hands the connections filter selects to fn, spending
// budget. What fn handled leaves the filter (erased, or erasing), so the
// next run starts where this one stopped without keeping a position,
// which would hold a user's keys.
func (e *Eraser) scanConnections(ctx context.Context, filter string, budget *int, more *bool, fn func(store.Connection) error) error {
	if *budget <= 0 {
		*more = true
		return nil
	}
	rest, err := e.d.Conns.Scan(ctx, filter, *budget, func(c store.Connection) error { *budget--; return fn(c) })
	*more = *more || rest
	return err
}

// scanUploads is scanConnections over the uploads table.
func (e *Eraser) scanUploads(ctx context.Context, filter string, budget *int, more *bool, fn func(store.Upload) error) error {
	if *budget <= 0 {
		*more = true
		return nil
	}
	rest, err := e.d.Uploads.Scan(ctx, filter, *budget, func(u store.Upload) error { *budget--; return fn(u) })
	*more = *more || rest
	return err
}
