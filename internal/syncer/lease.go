package syncer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/pitcher/connector/internal/store"
)

// LeaseStore is what the lease needs of the syncstate table.
type LeaseStore interface {
	Lease(ctx context.Context, tenant, user string) (store.Lease, error)
	CreateLease(ctx context.Context, tenant, user string, l store.Lease) (azcore.ETag, error)
	UpdateLease(ctx context.Context, tenant, user string, l store.Lease) (azcore.ETag, error)
	CommitSet(ctx context.Context, tenant, user string, l store.Lease, sts ...store.SetState) (azcore.ETag, error)
	DeleteLease(ctx context.Context, tenant, user string, etag azcore.ETag) error
}

var _ LeaseStore = (*store.SyncStates)(nil)

// errLeaseLost ends a run whose lease another worker took over (after it
// expired: this worker was too slow to renew it).
var errLeaseLost = errors.New("the sync lease was lost to another worker")

// heldError reports a lease another worker holds until Until.
type heldError struct{ Until time.Time }

// errErasing: the user's erasure holds the lease (internal/lifecycle); the
// user is being disconnected and is never synced again.
var errErasing = errors.New("the user's data is being erased")

// erasureOwner is the owner internal/lifecycle writes into the lease.
const erasureOwner = "erasure"

func (e *heldError) Error() string {
	return "another worker holds the sync lease until " + e.Until.UTC().Format(time.RFC3339)
}

// lease is one worker's hold on a user's sync lease: a syncstate entity
// written with ETags, so of two workers only one can hold it, and only an
// expired lease can be taken over. Every write (renewal, sequence
// reservation, state commit) is conditional on the version this worker
// wrote last. It is safe for concurrent use (the keep-alive goroutine and
// the run share it).
type lease struct {
	st           LeaseStore
	tenant, user string
	dur          time.Duration
	now          func() time.Time

	mu  sync.Mutex
	cur store.Lease
	// next is the first sequence number of the block reserved last that is
	// not given out yet; the block ends at cur.NextSeq.
	next int64
}

// seqBlock is how many change-log numbers one lease write reserves: one
// write serves several pages. A run that dies leaves the rest unused.
const seqBlock = 5000

// acquireLease takes the lease of user for owner, or fails with *heldError
// when another worker holds an unexpired one.
func acquireLease(ctx context.Context, st LeaseStore, tenant, user, owner string, dur time.Duration, now func() time.Time) (*lease, error) {
	l := &lease{st: st, tenant: tenant, user: user, dur: dur, now: now}
	for attempt := 0; attempt < 3; attempt++ {
		cur, err := st.Lease(ctx, tenant, user)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// A new change log (the user's first sync, or their first since
			// they disconnected) numbers its entries from the time, beyond
			// anything an earlier, erased log of theirs reached: a cursor
			// the app kept from that one names no entry of this one, and
			// the Changes API tells the app to start again (410).
			next := store.Lease{Owner: owner, Until: now().Add(dur), NextSeq: now().UnixMicro()}
			etag, err := st.CreateLease(ctx, tenant, user, next)
			if errors.Is(err, store.ErrConflict) {
				continue // another worker created it first: read theirs
			}
			if err != nil {
				return nil, err
			}
			next.ETag = etag
			l.cur = next
			return l, nil
		case err != nil:
			return nil, err
		case cur.Owner == erasureOwner:
			return nil, errErasing
		case cur.Owner != "" && cur.Until.After(now()):
			return nil, &heldError{Until: cur.Until}
		}
		next := cur
		next.Owner, next.Until = owner, now().Add(dur)
		etag, err := st.UpdateLease(ctx, tenant, user, next)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		next.ETag = etag
		l.cur = next
		return l, nil
	}
	return nil, fmt.Errorf("the sync lease of %s/%s kept changing while it was taken: %w", tenant, user, store.ErrConflict)
}

// update writes the lease changed by change (and its expiry pushed out),
// failing with errLeaseLost when someone else wrote it meanwhile.
func (l *lease) update(ctx context.Context, change func(*store.Lease)) (store.Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := l.cur
	next.Until = l.now().Add(l.dur)
	change(&next)
	etag, err := l.st.UpdateLease(ctx, l.tenant, l.user, next)
	if errors.Is(err, store.ErrConflict) {
		return store.Lease{}, errLeaseLost
	}
	if err != nil {
		return store.Lease{}, err
	}
	prev := l.cur
	next.ETag = etag
	l.cur = next
	return prev, nil
}

// renew pushes the expiry out.
func (l *lease) renew(ctx context.Context) error {
	_, err := l.update(ctx, func(*store.Lease) {})
	return err
}

// reserve takes n sequence numbers of the change log and returns the
// first. Numbers are reserved in the lease row before they are used, at
// least seqBlock at a time, so they are never given out twice, even when
// the run that reserved them dies before it writes them (the log then has
// a gap, which readers never notice).
func (l *lease) reserve(ctx context.Context, n int) (int64, error) {
	l.mu.Lock()
	if l.next > 0 && l.next+int64(n) <= l.cur.NextSeq {
		first := l.next
		l.next += int64(n)
		l.mu.Unlock()
		return first, nil
	}
	l.mu.Unlock()
	prev, err := l.update(ctx, func(next *store.Lease) { next.NextSeq += int64(max(n, seqBlock)) })
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next = prev.NextSeq + int64(n)
	return prev.NextSeq, nil
}

// commit stores sets' states in the same transaction as a renewal, so
// only the holder can store a delta link.
func (l *lease) commit(ctx context.Context, sts ...store.SetState) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := l.cur
	next.Until = l.now().Add(l.dur)
	etag, err := l.st.CommitSet(ctx, l.tenant, l.user, next, sts...)
	if errors.Is(err, store.ErrConflict) {
		return errLeaseLost
	}
	if err != nil {
		return err
	}
	next.ETag = etag
	l.cur = next
	return nil
}

// trimmedAt is when the user's change log was trimmed last.
func (l *lease) trimmedAt() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur.TrimmedAt
}

// markTrimmed records a trim at t; the next lease write stores it.
func (l *lease) markTrimmed(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur.TrimmedAt = t
}

// drop deletes the lease this worker holds (when it took it for a user who
// was disconnected meanwhile, so it leaves nothing of them behind). A
// lease someone else wrote since is left alone.
func (l *lease) drop(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.st.DeleteLease(ctx, l.tenant, l.user, l.cur.ETag); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return nil
}

// release frees the lease so the next job need not wait for it to expire.
func (l *lease) release(ctx context.Context) error {
	_, err := l.update(ctx, func(next *store.Lease) { next.Owner, next.Until = "", time.Time{} })
	return err
}

// keepAlive renews the lease every third of its duration until ctx ends;
// when a renewal fails it cancels the run with the cause.
func (l *lease) keepAlive(ctx context.Context, cancel context.CancelCauseFunc) {
	t := time.NewTicker(l.dur / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.renew(ctx); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("renew the sync lease: %w", err))
				return
			}
		}
	}
}
