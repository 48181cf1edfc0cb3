// Package lifecycle erases what the connector holds: one user's data when
// they disconnect (DELETE /api/connection) or stay inactive past the
// retention period, every user of a tenant and its approval when an
// operator offboards it, and finished uploads and abandoned sign-ins past
// their retention (docs/privacy.md).
//
// An erasure is a state kept on the row it erases (the connection's status
// erasing, the tenant's OffboardingAt), so it resumes after any failure and
// is repeated harmlessly. It fences the writers first: the erasing status
// stops new syncs, uploads and API calls, and the erasure takes the user's
// sync lease, so a sync already running fails its next lease write and
// stops. What such a sync may have written after the erasure's first sweep
// is found by a second sweep once its lease could no longer be renewed (the
// lease's end plus one lease duration); only then is the connection row
// deleted. An upload that is already being written finishes first.
package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"golang.org/x/sync/errgroup"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/notefiles"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
)

// Container is a blob container holding per-user blobs under
// "<tenant>/<user>/".
type Container struct {
	Name   string
	Client *container.Client
	// Uploads: the container holds uploads' reports and documents, which
	// an upload being written still reads.
	Uploads bool
}

// DeadLetterQueue is a queue's dead-letter queue (queue.DeadLetters).
type DeadLetterQueue interface {
	List(ctx context.Context, max int) ([]queue.DeadLetter, error)
	Purge(ctx context.Context, seqs []int64) ([]queue.Outcome, error)
}

var _ DeadLetterQueue = (*queue.DeadLetters)(nil)

// Deps are the eraser's collaborators.
type Deps struct {
	DB      *store.DB
	Conns   *store.Connections
	Tenants *store.Tenants
	Uploads *store.Uploads
	States  *store.SyncStates
	Flows   *store.AuthFlows
	Audit   *store.Erasures
	Pseudo  obs.Pseudonyms
	Logger  *slog.Logger
	Blobs   []Container
	// DeadLetters are the dead-letter queues searched for the user's
	// messages, by queue name; nil skips them.
	DeadLetters map[string]DeadLetterQueue
	// Forget drops a user's cached access tokens (tokens.Vault.Forget).
	Forget func(tenant, user string)
	// LeaseDuration is the sync lease's duration (SYNC_LEASE_DURATION).
	LeaseDuration time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Eraser runs erasures. It is safe for concurrent use; two erasures of the
// same user at once are harmless (each step is idempotent).
type Eraser struct{ d Deps }

// New returns an eraser.
func New(d Deps) *Eraser {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Eraser{d: d}
}

// Request says who asks for an erasure and why.
type Request struct {
	Kind string // store.ErasureDisconnect, ErasureOffboard, ErasureRetention or ErasureOperator
	By   string // "user:<pseudonym>", "operator" or "retention"
	// Continue: only go on with an erasure that began (a continuation
	// message). A user who is not being erased is left alone: their
	// erasure finished and they may have connected again since.
	Continue bool
}

// Result is where an erasure stands after one pass.
type Result struct {
	// Done: nothing of the user (or tenant) is left but the audit row.
	Done bool
	// RetryAt is when to run the erasure again when it is not done, and
	// Waiting says for what.
	RetryAt time.Time
	Waiting string
	// Counts is what was deleted, over every pass of this erasure.
	Counts Counts
}

// Counts are deleted entities per table and blobs per container
// ("blob:<container>") and dead-lettered messages ("deadletter:<queue>").
type Counts map[string]int64

func (c Counts) add(o Counts) {
	for k, v := range o {
		c[k] += v
	}
}

func (c Counts) total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// String is the counts as JSON, keys sorted.
func (c Counts) String() string {
	b, _ := json.Marshal(map[string]int64(c))
	return string(b)
}

func parseCounts(s string) Counts {
	c := Counts{}
	if s != "" {
		_ = json.Unmarshal([]byte(s), &c) // counts are for people; a damaged value restarts them
	}
	return c
}

// erasureOwner is the owner the erasure writes into a user's sync lease.
const erasureOwner = "erasure"

// uploadRetry is how soon an erasure looks again at an upload that is
// being written.
const uploadRetry = 30 * time.Second

// staleProcessing is how long an upload may stay "processing" before it is
// taken for abandoned: beyond the uploads queue's lock (5 minutes) and the
// Functions timeout (10 minutes) no worker can still be writing it.
const staleProcessing = 15 * time.Minute

// EraseUser erases user of tenant: one pass, as far as ctx allows. It
// returns Done when nothing is left; otherwise the erasure is recorded
// and RetryAt says when to call again. A user without a connection is
// swept all the same (whatever an interrupted erasure left) and reported
// Done; with req.Continue, a user who is not being erased is left alone.
func (e *Eraser) EraseUser(ctx context.Context, tenant, user string, req Request) (Result, error) {
	return e.eraseUser(ctx, tenant, user, req, false)
}

// eraseUser is EraseUser; inTenant says the erasure is part of its
// tenant's offboarding, which writes the one audit row and purges the
// tenant's dead letters once for all its users.
func (e *Eraser) eraseUser(ctx context.Context, tenant, user string, req Request, inTenant bool) (Result, error) {
	now := e.d.Now().UTC()
	conn, fenced, err := e.fence(ctx, tenant, user, req, now)
	if err != nil {
		return Result{}, err
	}
	if req.Continue && !fenced {
		return Result{Done: true, Counts: Counts{}}, nil // finished before, or connected again since
	}
	counts := parseCounts(conn.Erasure.Counts)
	verifyAfter := conn.Erasure.VerifyAfter
	if fenced {
		va, err := e.takeLease(ctx, tenant, user, now)
		if err != nil {
			return Result{}, err
		}
		if va.After(verifyAfter) {
			verifyAfter = va
		}
	}
	pass := Counts{}
	waiting, err := e.eraseUploads(ctx, tenant, user, pass, now)
	if err == nil {
		err = e.sweepUser(ctx, tenant, user, pass, waiting == 0, !inTenant)
	}
	counts.add(pass)
	if fenced {
		// Recorded even when the pass ran out of time: the counts of what
		// it deleted would be lost otherwise.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		rerr := e.d.Conns.RecordErasure(rctx, tenant, user, store.Erasure{VerifyAfter: verifyAfter, Counts: counts.String()})
		cancel()
		if rerr != nil && !errors.Is(rerr, store.ErrNotFound) && err == nil {
			err = rerr // (not found: a concurrent pass completed the erasure)
		}
	}
	if err != nil {
		return Result{Counts: counts}, err
	}
	switch {
	case waiting > 0:
		return Result{RetryAt: now.Add(uploadRetry), Waiting: fmt.Sprintf("%d upload(s) being written into Dynamics 365", waiting), Counts: counts}, nil
	case verifyAfter.After(now):
		return Result{RetryAt: verifyAfter, Waiting: "a sync that was running when the erasure began can no longer write", Counts: counts}, nil
	}
	// Complete: the lease that fenced the syncs (no sync can start while
	// the row says erasing, and none still runs), then the audit (a retry
	// rewrites the same row), then the connection row: as long as it is
	// there, a retry finds the erasure and finishes it.
	n, err := e.d.DB.Purge(ctx, store.SyncStateTable, store.PartitionFilter(store.UserPartition(tenant, user)))
	counts[store.SyncStateTable] += n
	if err != nil {
		return Result{Counts: counts}, err
	}
	if !fenced && counts.total() == 0 {
		return Result{Done: true, Counts: counts}, nil
	}
	if !fenced {
		conn.Erasure = store.Erasure{Kind: req.Kind, By: req.By, RequestedAt: now}
	} else {
		counts[store.ConnectionsTable]++
	}
	if !inTenant {
		if err := e.d.Audit.Record(ctx, store.ErasureRecord{Kind: conn.Erasure.Kind, Tenant: e.d.Pseudo.Tenant(tenant),
			Subject: e.d.Pseudo.User(tenant, user), By: conn.Erasure.By, RequestedAt: conn.Erasure.RequestedAt,
			CompletedAt: now, Counts: counts.String()}); err != nil {
			return Result{Counts: counts}, err
		}
	}
	if fenced {
		if err := e.d.Conns.Delete(ctx, tenant, user); err != nil {
			return Result{Counts: counts}, err
		}
	}
	if e.d.Forget != nil {
		e.d.Forget(tenant, user)
	}
	e.d.Logger.Info("user erased", "tenant", tenant, "user", user, "kind", conn.Erasure.Kind, "counts", counts.String())
	return Result{Done: true, Counts: counts}, nil
}

// fence marks the connection erasing (if it is not already) and returns
// it; fenced is false when the user has no connection.
func (e *Eraser) fence(ctx context.Context, tenant, user string, req Request, now time.Time) (store.Connection, bool, error) {
	for try := 0; try < 3; try++ {
		conn, err := e.d.Conns.Get(ctx, tenant, user)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return store.Connection{}, false, nil
		case err != nil:
			return conn, false, apperr.Wrap(apperr.Transient, err, "could not read the connection")
		case conn.Status == store.StatusErasing:
			return conn, true, nil
		case req.Continue:
			return conn, false, nil
		}
		er := store.Erasure{Kind: req.Kind, By: req.By, RequestedAt: now, Counts: "{}"}
		_, err = e.d.Conns.MarkErasing(ctx, tenant, user, er, conn.ETag)
		if errors.Is(err, store.ErrConflict) {
			continue // a token refresh or sign-in wrote the row meanwhile: read it again
		}
		if err != nil {
			return conn, false, apperr.Wrap(apperr.Transient, err, "could not start the erasure")
		}
		conn.Status, conn.Erasure = store.StatusErasing, er
		return conn, true, nil
	}
	return store.Connection{}, false, apperr.E(apperr.Transient, "the connection kept changing while its erasure began; try again")
}

// takeLease writes the erasure into the user's sync lease, so that a sync
// holding it fails its next lease write and stops, and no sync can take
// it. When a sync held it, the returned time is when that sync can no
// longer be writing: the lease's end plus one lease duration.
func (e *Eraser) takeLease(ctx context.Context, tenant, user string, now time.Time) (time.Time, error) {
	forever := now.AddDate(100, 0, 0)
	for try := 0; try < 5; try++ {
		l, err := e.d.States.Lease(ctx, tenant, user)
		switch {
		case errors.Is(err, store.ErrNotFound):
			_, err = e.d.States.CreateLease(ctx, tenant, user, store.Lease{Owner: erasureOwner, Until: forever})
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			return time.Time{}, err
		case err != nil:
			return time.Time{}, err
		case l.Owner == erasureOwner:
			return time.Time{}, nil
		}
		held := l.Owner != ""
		until := l.Until
		l.Owner, l.Until = erasureOwner, forever
		if _, err := e.d.States.UpdateLease(ctx, tenant, user, l); errors.Is(err, store.ErrConflict) {
			continue // the sync renewed it meanwhile
		} else if err != nil {
			return time.Time{}, err
		}
		if !held {
			return time.Time{}, nil
		}
		return later(until, now).Add(e.d.LeaseDuration), nil
	}
	return time.Time{}, apperr.E(apperr.Transient, "the sync lease kept changing while the erasure took it; try again")
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// eraseUploads cancels the user's uploads that are not finished (on their
// ETag, so a worker that starts one meanwhile either wins and is waited
// for, or finds it cancelled) and deletes every finished or cancelled one
// with its blobs. It returns how many are being written.
func (e *Eraser) eraseUploads(ctx context.Context, tenant, user string, counts Counts, now time.Time) (int, error) {
	rows, err := e.d.Uploads.List(ctx, tenant, user)
	if err != nil {
		return 0, err
	}
	waiting := 0
	for _, row := range rows {
		switch row.Status {
		case store.UploadDone, store.UploadFailed, store.UploadConflict, store.UploadCancelled:
		case store.UploadProcessing:
			if now.Sub(row.UpdatedAt) < staleProcessing {
				waiting++
				continue
			}
			fallthrough
		default: // queued, retrying, parked, dead_lettered
			row.Status, row.UpdatedAt, row.CompletedAt, row.NextAttemptAt = store.UploadCancelled, now, now, time.Time{}
			row.ErrorCode, row.ErrorMessage, row.ErrorStatus, row.ErrorItem = "cancelled", "the user disconnected before the report was written to Dynamics 365", 0, ""
			_, err := e.d.Uploads.Update(ctx, row)
			switch {
			case errors.Is(err, store.ErrNotFound):
				continue // deleted meanwhile (a concurrent pass)
			case errors.Is(err, store.ErrConflict):
				waiting++ // a worker took it meanwhile: look again
				continue
			case err != nil:
				return waiting, err
			}
		}
		if err := e.d.Uploads.Delete(ctx, tenant, user, row.UploadID); err != nil {
			return waiting, err
		}
		counts[store.UploadsTable]++
	}
	return waiting, nil
}

// sweepUser deletes the user's mirror, change log, sync state (the lease
// row stays: it fences the syncs until the end) and overflow blobs; their
// upload blobs too once no upload is being written, and with deadLetters
// the dead-lettered messages naming them.
func (e *Eraser) sweepUser(ctx context.Context, tenant, user string, counts Counts, uploadBlobs, deadLetters bool) error {
	pk := store.UserPartition(tenant, user)
	// The mirror and the log are the bulk: both at once.
	var recs, logs int64
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		recs, err = e.d.DB.Purge(gctx, mirror.RecordsTable, store.PartitionFilter(pk))
		return err
	})
	g.Go(func() (err error) {
		logs, err = e.d.DB.Purge(gctx, mirror.ChangesTable, store.PartitionFilter(pk))
		return err
	})
	err := g.Wait()
	counts[mirror.RecordsTable] += recs
	counts[mirror.ChangesTable] += logs
	if err != nil {
		return err
	}
	n, err := e.d.DB.Purge(ctx, store.SyncStateTable, store.PartitionFilter(pk)+" and RowKey ne '"+store.LeaseRowKey+"'")
	counts[store.SyncStateTable] += n
	if err != nil {
		return err
	}
	for _, c := range e.d.Blobs {
		if c.Uploads && !uploadBlobs {
			continue
		}
		if err := e.deletePrefix(ctx, c, tenant+"/"+user+"/", counts); err != nil {
			return err
		}
	}
	if !deadLetters {
		return nil
	}
	return e.purgeDeadLetters(ctx, tenant, user, counts)
}

// deletePrefix deletes every blob of c under prefix, and the blocks staged
// for blobs never committed (a document cache fill cut short).
func (e *Eraser) deletePrefix(ctx context.Context, c Container, prefix string, counts Counts) error {
	pager := c.Client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix,
		Include: container.ListBlobsInclude{UncommittedBlobs: true}})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list blobs of %s: %w", c.Name, err)
		}
		for _, b := range page.Segment.BlobItems {
			_, err := c.Client.NewBlobClient(*b.Name).Delete(ctx, nil)
			switch {
			case err == nil:
				counts["blob:"+c.Name]++
			case bloberror.HasCode(err, bloberror.BlobNotFound): // deleted meanwhile, or only staged blocks
				if err := notefiles.Discard(ctx, c.Client.NewBlockBlobClient(*b.Name)); err != nil {
					return fmt.Errorf("drop the staged blocks of a blob of %s: %w", c.Name, err)
				}
			default:
				return fmt.Errorf("delete a blob of %s: %w", c.Name, err)
			}
		}
	}
	return nil
}

// purgeDeadLetters removes dead-lettered messages naming the user (user
// "" : any user of tenant).
func (e *Eraser) purgeDeadLetters(ctx context.Context, tenant, user string, counts Counts) error {
	for _, name := range slices.Sorted(maps.Keys(e.d.DeadLetters)) {
		dlq := e.d.DeadLetters[name]
		msgs, err := dlq.List(ctx, 5000)
		if err != nil {
			return err
		}
		var seqs []int64
		for _, m := range msgs {
			if names(m.Body, tenant, user) {
				seqs = append(seqs, m.SequenceNumber)
			}
		}
		if len(seqs) == 0 {
			continue
		}
		out, err := dlq.Purge(ctx, seqs)
		counts["deadletter:"+name] += int64(len(out))
		if err != nil {
			return err
		}
	}
	return nil
}

// names reports whether a message body is about user of tenant (any user
// when user is ""). Every message of the connector carries tenantId and,
// for a user, userId.
func names(body []byte, tenant, user string) bool {
	var m struct {
		TenantID string `json:"tenantId"`
		UserID   string `json:"userId"`
	}
	if json.Unmarshal(body, &m) != nil || !strings.EqualFold(m.TenantID, tenant) {
		return false
	}
	return user == "" || strings.EqualFold(m.UserID, user)
}
