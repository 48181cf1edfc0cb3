package uploader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/report"
	"github.com/pitcher/connector/internal/store"
)

// Process runs one delivery of an uploads message (UploadWorker) and
// returns what happened, for the invocation's log. A nil error completes
// the message: the upload is done, failed for good, parked, or retried
// later by a scheduled message. An error (always Transient) abandons it,
// so Service Bus delivers it again; delivery is the message's
// DeliveryCount, and on the last one the upload is marked dead_lettered.
func (s *Service) Process(ctx context.Context, m queue.Upload, delivery int) (string, error) {
	log := s.Logger.With("tenant", m.TenantID, "user", m.UserID, "upload", m.UploadID, "attempt", m.Attempt, "delivery", delivery)
	row, skip, err := s.begin(ctx, m, log)
	if skip != "" || err != nil {
		return skip, err
	}
	connectedAt, o := s.write(ctx, &row, log)
	return s.settle(ctx, &row, m, delivery, connectedAt, o, log)
}

// begin marks the upload processing and counts the attempt, or says why
// the message has nothing to do (skip). UploadIntake records that it
// queued the message after sending it, so that write can land between
// this read and this write: the row is then read again, rather than the
// delivery being spent on a conflict.
func (s *Service) begin(ctx context.Context, m queue.Upload, log *slog.Logger) (row store.Upload, skip string, err error) {
	for try := 1; ; try++ {
		row, err = s.Rows.Get(ctx, m.TenantID, m.UserID, m.UploadID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			log.Warn("the message names no upload; dropped")
			return row, "no such upload", nil
		case err != nil:
			return row, "", apperr.Wrap(apperr.Transient, err, "could not read the upload")
		case row.Status == store.UploadDone || row.Status == store.UploadFailed || row.Status == store.UploadCancelled || row.Status == store.UploadConflict:
			return row, "already " + row.Status, nil
		case m.Attempt < row.RetryAttempt:
			return row, fmt.Sprintf("superseded by attempt %d", row.RetryAttempt), nil
		}
		row.Status, row.Attempts, row.MessageSent = store.UploadProcessing, row.Attempts+1, true
		row.UpdatedAt, row.NextAttemptAt = s.now().UTC(), time.Time{}
		err = s.save(ctx, &row)
		if err == nil || !errors.Is(err, store.ErrConflict) || try == 3 {
			return row, "", err
		}
	}
}

// save writes row if nobody changed it since it was read.
func (s *Service) save(ctx context.Context, row *store.Upload) error {
	etag, err := s.Rows.Update(ctx, *row)
	if err != nil {
		return apperr.Wrap(apperr.Transient, err, "could not record the upload's progress")
	}
	row.ETag = etag
	return nil
}

// write does the work of one attempt. It returns when the user's
// connection was made, to notice a sign-in while it ran.
func (s *Service) write(ctx context.Context, row *store.Upload, log *slog.Logger) (time.Time, outcome) {
	conn, err := s.Connections.Get(ctx, row.TenantID, row.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return time.Time{}, parked(err, "you are not connected to Dynamics 365")
	case err != nil:
		return time.Time{}, transient(err)
	case conn.Status == store.StatusReauthRequired:
		return conn.ConnectedAt, parked(nil, conn.StatusReason)
	case conn.Status == store.StatusErasing && !row.BatchDone:
		// The user disconnected before anything was written: cancel. An
		// upload whose batch is in Dynamics finishes its documents first
		// (the erasure waits for it), so it is never half-written.
		return conn.ConnectedAt, outcome{kind: outcomeCancelled, last: &LastError{Code: "cancelled",
			Message: "you disconnected from Dynamics 365 before the report was written; it was not sent"}}
	}
	o := Owner{TenantID: row.TenantID, UserID: row.UserID, OrgURL: conn.OrgURL}
	if until, closed := s.gate.closedUntil(o, s.now()); closed {
		return conn.ConnectedAt, outcome{kind: outcomeThrottled, retryAfter: until.Sub(s.now()),
			last: &LastError{Code: "throttled", Message: "Dynamics 365 asked to slow down; the upload is sent again at nextAttemptAt"}}
	}
	out := s.attempt(ctx, o, row, log)
	if out.kind == outcomeThrottled {
		s.gate.close(o, s.now().Add(out.retryAfter))
	}
	return conn.ConnectedAt, out
}

// attempt writes what is left of the upload for o.
func (s *Service) attempt(ctx context.Context, o Owner, row *store.Upload, log *slog.Logger) outcome {
	if _, err := s.Tokens.TokenFor(ctx, o.TenantID, o.UserID, o.OrgURL); err != nil {
		return classify(err, "")
	}
	stored, err := s.Blobs.Get(ctx, reportBlob(o.TenantID, o.UserID, row.UploadID, row.ContentHash))
	if err != nil {
		return classify(err, "")
	}
	r, err := report.Parse(stored)
	if err != nil {
		return failed(err, &LastError{Code: "stored_report_damaged", Message: "the stored report cannot be read; send it again under a new upload id"})
	}
	c, err := s.client(o, s.cfg.Dataverse)
	if err != nil {
		return failed(err, &LastError{Code: "environment_invalid", Message: "your Dynamics 365 environment's URL is not usable; sign in again"})
	}
	content := func(ctx context.Context, d report.Document) ([]byte, error) {
		return s.Blobs.Get(ctx, documentBlob(o.TenantID, o.UserID, r.UploadID, d.SHA256))
	}
	p, err := s.newPlan(ctx, o, r, firstWrites(r), content)
	if err != nil {
		return classify(err, "")
	}
	if !row.BatchDone {
		// Recorded at once only when documents follow, so a failure among
		// them does not send the batch again; otherwise done records it.
		if out := s.writeReport(ctx, c, o, r, p, row, content, len(p.chunked) > 0); out.kind != outcomeDone {
			return out
		}
		log.Debug("batch written", "requests", p.batch.Len())
	}
	for _, i := range p.chunked {
		if slices.Contains(row.DocumentsDone, i) {
			continue
		}
		if out := s.writeChunked(ctx, c, o, r, i, p, row); out.kind != outcomeDone {
			return out
		}
	}
	out := done()
	out.blobs = []string{reportBlob(o.TenantID, o.UserID, row.UploadID, row.ContentHash)}
	for _, d := range r.Documents {
		out.blobs = append(out.blobs, documentBlob(o.TenantID, o.UserID, row.UploadID, d.SHA256))
	}
	return out
}

// writeReport sends the plan's $batch and records its records. When a
// row the report updates changed in Dynamics since the app's copy, the
// change set is undone; resolve decides by policy, and the report is sent
// again conditional on the versions it read, or ends conflict.
func (s *Service) writeReport(ctx context.Context, c *dataverse.Client, o Owner, r *report.Report, p *plan, row *store.Upload, content func(context.Context, report.Document) ([]byte, error), record bool) outcome {
	writes, conflicted := firstWrites(r), map[int]Conflict{}
	for _, f := range conflicts(*row) { // recorded by a delivery that may have written over them
		if i, ok := customerIndex(f.Item); ok {
			conflicted[i] = f
		}
	}
	for round := 1; ; round++ {
		res, err := c.ExecuteBatch(ctx, p.batch, nil)
		if err != nil {
			return classify(err, "")
		}
		failed := slices.IndexFunc(res.Parts, func(part dataverse.BatchPart) bool { return part.Err != nil })
		if failed < 0 {
			return s.written(ctx, p, res, row, record)
		}
		part := res.Parts[failed]
		if _, ok := p.conditional[part.ContentID]; !ok || !(dataverse.IsConcurrencyConflict(part.Err) || dataverse.IsNotFound(part.Err)) {
			return classify(part.Err, p.items[part.ContentID])
		}
		if round == maxResolveRounds {
			return transient(fmt.Errorf("%s changed in Dynamics while it was written, %d times", p.items[part.ContentID], round))
		}
		found, err := s.resolve(ctx, c, o, r, p, writes, conflicted)
		switch {
		case err != nil:
			return classify(err, "")
		case found.committed:
			slices.SortStableFunc(found.records, itemOrder)
			row.BatchDone = true
			setRecords(row, found.records)
			return s.recorded(ctx, row, record)
		case found.blocked:
			setConflicts(row, conflicted)
			return conflict(row)
		}
		// Recorded before the write, so that a delivery finding the write
		// done (its answer lost) still shows what it wrote over.
		setConflicts(row, conflicted)
		if len(conflicted) > 0 {
			if err := s.save(ctx, row); err != nil {
				return transient(err)
			}
		}
		if p, err = s.newPlan(ctx, o, r, writes, content); err != nil {
			return classify(err, "")
		}
	}
}

// written records the records of a successful $batch.
func (s *Service) written(ctx context.Context, p *plan, res *dataverse.BatchResult, row *store.Upload, record bool) outcome {
	recs := slices.Clone(p.records)
	for _, part := range res.Parts {
		i, ok := p.customers[part.ContentID]
		if !ok {
			continue
		}
		cu := p.rows[i]
		w := part.Result()
		id := cu.id
		if id == "" {
			if rec, err := decodeRow(w.Record); err == nil {
				id, _ = rec[cu.pk].(string)
			}
		}
		if id != "" {
			rec := Record{Item: report.Item("customers", i), EntitySet: cu.set, ID: strings.ToLower(id)}
			if cu.based {
				rec.ETag = w.ETag
			}
			recs = append(recs, rec)
		}
	}
	slices.SortStableFunc(recs, itemOrder)
	row.BatchDone = true
	setRecords(row, recs)
	return s.recorded(ctx, row, record)
}

// recorded saves the row after its batch, when record says documents follow.
func (s *Service) recorded(ctx context.Context, row *store.Upload, record bool) outcome {
	if !record {
		return done()
	}
	if err := s.save(ctx, row); err != nil {
		return transient(err)
	}
	return done()
}

// itemOrder sorts records as the report lists its items: customers, the
// meeting, notes, documents, each by index.
func itemOrder(a, b Record) int {
	rank := func(item string) (int, int) {
		list, idx, _ := strings.Cut(item, "[")
		n, _ := strconv.Atoi(strings.TrimSuffix(idx, "]"))
		return slices.Index([]string{"customers", "meeting", "notes", "documents"}, list), n
	}
	ga, ia := rank(a.Item)
	gb, ib := rank(b.Item)
	if ga != gb {
		return ga - gb
	}
	return ia - ib
}

// writeChunked uploads document i in blocks and records it.
func (s *Service) writeChunked(ctx context.Context, c *dataverse.Client, o Owner, r *report.Report, i int, p *plan, row *store.Upload) outcome {
	item := report.Item("documents", i)
	d := r.Documents[i]
	rc, err := s.Blobs.Open(ctx, documentBlob(o.TenantID, o.UserID, r.UploadID, d.SHA256))
	if err != nil {
		return classify(err, item)
	}
	defer rc.Close()
	id := report.RecordID(o.TenantID, o.UserID, r.UploadID, item)
	if _, err := c.UploadNote(ctx, documentNote(id, d, p.meeting, s.cfg.Allow.Activity, nil), rc, 0); err != nil {
		return classify(err, item)
	}
	row.DocumentsDone = append(row.DocumentsDone, i)
	setRecords(row, append(records(*row), Record{Item: item, EntitySet: "annotations", ID: id}))
	if err := s.save(ctx, row); err != nil {
		return transient(err)
	}
	return done()
}
