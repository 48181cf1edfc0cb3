package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
)

// Connections are what the scheduler reads and moves of the connections:
// their next sync, a user's row (to repair a half-written index entry),
// and, for the hourly reconciliation, the active ones.
type Connections interface {
	Get(ctx context.Context, tenant, user string) (store.Connection, error)
	SetNextSync(ctx context.Context, tenant string, users []store.NextSync) (gone []string, err error)
	ListActive(ctx context.Context, fn func([]store.Due) error) error
}

// DueIndex is the scheduler's index of the connections by due time
// (store.SyncDueTable).
type DueIndex interface {
	List(ctx context.Context, before time.Time, fn func([]store.DueEntry) error) error
	ListAll(ctx context.Context, fn func([]store.DueEntry) error) error
	Put(ctx context.Context, entries []store.DueEntry) error
	MarkNext(ctx context.Context, entries []store.DueEntry) error
	Delete(ctx context.Context, entries []store.DueEntry) error
	LastSweep(ctx context.Context) (time.Time, bool, error)
	RecordSweep(ctx context.Context, at time.Time) error
}

// JobSender sends sync jobs now or at a time.
type JobSender interface {
	Send(ctx context.Context, jobs ...queue.SyncJob) error
	ScheduleAt(ctx context.Context, at time.Time, jobs ...queue.SyncJob) ([]int64, error)
}

var (
	_ Connections = (*store.Connections)(nil)
	_ DueIndex    = (*store.DueIndex)(nil)
	_ JobSender   = (*queue.Sender[queue.SyncJob])(nil)
)

// DefaultSweepEvery is how often a scheduler run first reconciles the
// due index with the connections (Scheduler.SweepEvery).
const DefaultSweepEvery = time.Hour

// Scheduler fans out one sync job per connected user who is due. It finds
// them in the due index (store.SyncDueTable) with one key-range query, so
// a run costs what the users due cost, not what all connections do; it
// shares a run's jobs round-robin between the tenants, bounded per
// tenant; and it queues each job for the user's own moment in the
// interval, so a tenant's syncs are spread over it.
type Scheduler struct {
	Conns  Connections
	Index  DueIndex
	Jobs   JobSender
	Tuning config.SyncTuning
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SweepEvery is how often a run first reconciles the index with the
	// connections (an entry lost, or left, by a crash between the two
	// writes); 0 means DefaultSweepEvery.
	SweepEvery time.Duration
}

// ScheduleResult is what one scheduler run did.
type ScheduleResult struct {
	// Enqueued is the jobs sent or scheduled; Scheduled of them for a
	// later moment of the interval, the others due now.
	Enqueued, Scheduled int
	// Tenants is how many tenants had jobs.
	Tenants int
	// Capped is true when SchedulerMaxJobs or SchedulerMaxJobsPerTenant
	// left due users (Deferred index entries) to the next run.
	Capped   bool
	Deferred int
	// Dropped is the index entries deleted without a job: malformed ones
	// (Malformed counts them, with those the SDK cannot delete), a user's
	// second entry, those of users whose connection is gone. Repaired is
	// the half-written entries filed again from their connection.
	Dropped, Malformed, Repaired int
	// Swept is what the run's reconciliation changed in the index, entries
	// filed plus entries deleted (-1: no reconciliation this run);
	// Backfill says it filed every active connection, the index having
	// never been reconciled.
	Swept    int
	Backfill bool
}

// Job fan-out tuning.
const (
	// chunkSize is how many due entries are queued and filed at a time: a
	// run that dies loses at most the work of one chunk in flight.
	chunkSize = 1000
	// sendsInFlight bounds the concurrent schedule requests, movesInFlight
	// the tenants whose connections are moved at once.
	sendsInFlight = 8
	movesInFlight = 8
)

// Run enqueues a job for each user whose index entry falls before the
// minute of its horizon (now + Interval), and files each one's next
// sync. In order, for each chunk of users: the jobs are sent (due now) or
// scheduled (for the user's due time), the next entries are filed, the
// connections' NextSyncAt moved, and the entries dealt with deleted. A
// run that dies part way leaves the users it had not finished with their
// entries as they were, so the next run queues them again; the MessageId
// (user and due time) makes Service Bus drop the copies of jobs sent
// before, so overlapping, repeated or past-due runs are harmless.
//
// The run trusts the index: it does not read the connections of the users
// it queues (their workers do). A connection that stopped being active
// takes its entry out itself; one erased is seen when its NextSyncAt
// cannot be moved, and its entry is deleted; what a crash leaves between
// a connection and its entry, the hourly reconciliation repairs.
func (s *Scheduler) Run(ctx context.Context, pastDue bool) (ScheduleResult, error) {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	now = now.UTC()
	if pastDue {
		s.Logger.Info("the timer is past due (the host was down or busy); syncing who is due now")
	}
	res := ScheduleResult{Swept: -1}
	var sweepErr error
	if res.Swept, res.Backfill, sweepErr = s.reconcile(ctx, now); sweepErr != nil {
		s.Logger.Warn("the reconciliation of the due index failed; the next run tries again", "error", sweepErr.Error())
	}
	r := &run{s: s, now: now, cutoff: now.Add(s.Tuning.Interval).Truncate(store.DueBucketWidth), res: &res}
	var entries, halfWritten []store.DueEntry
	undeletable := 0
	err := s.Index.List(ctx, r.cutoff, func(page []store.DueEntry) error {
		for _, e := range page {
			switch {
			case e.Malformed:
				res.Malformed++
				if e.Bucket == "" || e.Key == "" {
					undeletable++ // the SDK cannot address an empty key
				} else {
					r.drop = append(r.drop, e)
				}
			case e.HalfWritten:
				halfWritten = append(halfWritten, e)
			default:
				entries = append(entries, e)
			}
		}
		return nil
	})
	if undeletable > 0 {
		s.Logger.Warn("the due index holds entries with an empty key, which the scheduler skips but cannot delete; delete them in the Azure portal (Storage browser, table "+
			store.SyncDueTable+")", "entries", undeletable)
	}
	if err == nil {
		var repaired []store.DueEntry
		repaired, err = r.repair(ctx, halfWritten)
		entries = append(entries, repaired...)
	}
	entries = r.firstOfEachUser(entries)
	if err == nil {
		err = r.flushDrops(ctx)
	}
	fair := newFairQueue(entries, s.Tuning.SchedulerMaxJobs, s.Tuning.SchedulerMaxJobsPerTenant)
	for err == nil {
		chunk := fair.take(chunkSize)
		if len(chunk) == 0 {
			break
		}
		err = r.chunk(ctx, chunk)
		if err == nil {
			err = ctx.Err()
		}
	}
	res.Deferred = fair.left()
	res.Capped = res.Deferred > 0
	res.Tenants = fair.tenantsTaken()
	if err == nil {
		err = sweepErr
	}
	if err != nil {
		return res, apperr.Wrap(apperr.Transient, err, "the scheduler stopped part way; the users left are queued by the next run")
	}
	s.Logger.Info("sync jobs enqueued", "jobs", res.Enqueued, "scheduled", res.Scheduled, "tenants", res.Tenants, "capped", res.Capped,
		"deferred", res.Deferred, "dropped", res.Dropped, "malformed", res.Malformed, "repaired", res.Repaired, "swept", res.Swept, "backfill", res.Backfill)
	return res, nil
}

// reconcile makes the due index match the connections, at most every
// SweepEvery: an active connection without an entry (a crash between a
// sign-in's row and its entry, or a deployment from before the index) is
// filed at its NextSyncAt; an entry of a connection that is gone or not
// active (a crash between a status change and taking the entry out) is
// deleted, as are a user's entries beyond the first (a crash between
// filing a user's next entry and deleting the old), and a half-written
// entry is written again. The index is read before the connections, so a
// sign-in in between is never undone. The reconciliation is recorded only
// when it has finished, so one that fails is done again by the next run.
// It reads both tables whole: an hourly cost, where a run costs what its
// users due do.
func (s *Scheduler) reconcile(ctx context.Context, now time.Time) (changed int, backfill bool, err error) {
	last, found, err := s.Index.LastSweep(ctx)
	if err != nil {
		return -1, false, err
	}
	every := s.SweepEvery
	if every <= 0 {
		every = DefaultSweepEvery
	}
	if found && now.Sub(last) < every {
		return -1, false, nil
	}
	byUser := map[string][]store.DueEntry{}
	var drop []store.DueEntry
	err = s.Index.ListAll(ctx, func(page []store.DueEntry) error {
		for _, e := range page {
			if e.Malformed {
				drop = append(drop, e)
				continue
			}
			byUser[e.TenantID+"/"+e.UserID] = append(byUser[e.TenantID+"/"+e.UserID], e)
		}
		return nil
	})
	if err != nil {
		return 0, !found, fmt.Errorf("read the due index: %w", err)
	}
	var file []store.DueEntry
	err = s.Conns.ListActive(ctx, func(page []store.Due) error {
		for _, d := range page {
			key := d.TenantID + "/" + d.UserID
			es := byUser[key]
			delete(byUser, key)
			if len(es) > 0 && !es[0].HalfWritten { // the earliest: the user's place
				drop = append(drop, es[1:]...)
				continue
			}
			at := d.NextSyncAt
			if at.IsZero() {
				at = now
			}
			want := store.DueEntryOf(d.TenantID, d.UserID, at)
			file = append(file, want)
			for _, e := range es {
				if e.Bucket != want.Bucket {
					drop = append(drop, e)
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, !found, fmt.Errorf("read the active connections: %w", err)
	}
	for _, es := range byUser { // no active connection
		drop = append(drop, es...)
	}
	if err := s.Index.Put(ctx, file); err != nil {
		return 0, !found, fmt.Errorf("file %d connections missing from the due index: %w", len(file), err)
	}
	if err := s.Index.Delete(ctx, drop); err != nil {
		return len(file), !found, fmt.Errorf("delete %d stale due index entries: %w", len(drop), err)
	}
	if err := s.Index.RecordSweep(ctx, now); err != nil {
		return len(file) + len(drop), !found, err
	}
	if len(file)+len(drop) > 0 || !found {
		s.Logger.Info("due index reconciled", "filed", len(file), "deleted", len(drop), "backfill", !found)
	}
	return len(file) + len(drop), !found, nil
}

// run is one scheduler run's state.
type run struct {
	s *Scheduler
	// now is the run's time; cutoff the start of the minute of its
	// horizon (now + Interval): users due before it are queued now.
	now, cutoff time.Time
	res         *ScheduleResult
	drop        []store.DueEntry // entries to delete without a job
}

func (r *run) flushDrops(ctx context.Context) error {
	if len(r.drop) == 0 {
		return nil
	}
	if err := r.s.Index.Delete(ctx, r.drop); err != nil {
		return fmt.Errorf("delete %d stale due index entries: %w", len(r.drop), err)
	}
	r.res.Dropped += len(r.drop)
	r.drop = r.drop[:0]
	return nil
}

// repair files half-written entries again from their connections (one
// point read each: such entries are rare) and returns the repaired ones
// due before the cutoff, to queue in this run. The entry of a connection
// gone or not active is deleted.
func (r *run) repair(ctx context.Context, bad []store.DueEntry) ([]store.DueEntry, error) {
	var file, due []store.DueEntry
	for _, e := range bad {
		c, err := r.s.Conns.Get(ctx, e.TenantID, e.UserID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("read the connection of a half-written due index entry: %w", err)
		}
		if err != nil || c.Status != store.StatusActive {
			r.drop = append(r.drop, e)
			continue
		}
		at := c.NextSyncAt
		if at.IsZero() {
			at = r.now
		}
		good := store.DueEntryOf(e.TenantID, e.UserID, at)
		file = append(file, good)
		if good.Bucket != e.Bucket {
			r.drop = append(r.drop, e)
		}
		if at.Before(r.cutoff) {
			due = append(due, good)
		}
	}
	if err := r.s.Index.Put(ctx, file); err != nil {
		return nil, fmt.Errorf("file %d half-written due index entries again: %w", len(file), err)
	}
	r.res.Repaired += len(file)
	return due, nil
}

// firstOfEachUser keeps each user's earliest entry (a crash between
// filing a user's next entry and deleting the old one leaves two) and
// drops the others: the run files the user's next sync after its horizon,
// beyond every entry it read.
func (r *run) firstOfEachUser(entries []store.DueEntry) []store.DueEntry {
	slices.SortStableFunc(entries, func(a, b store.DueEntry) int { return a.DueAt.Compare(b.DueAt) })
	seen := map[string]bool{}
	return slices.DeleteFunc(entries, func(e store.DueEntry) bool {
		key := e.TenantID + "/" + e.UserID
		if seen[key] {
			r.drop = append(r.drop, e)
			return true
		}
		seen[key] = true
		return false
	})
}

// chunk queues the jobs of chunk's users, files their next syncs and
// deletes what is dealt with. Before anything, it notes each user's next
// due time on the entry it replaces: a run that dies after filing some of
// them leaves the next run the same times (an entry a dead run noted
// comes with Next set), so each user keeps one entry.
func (r *run) chunk(ctx context.Context, chunk []store.DueEntry) error {
	interval := r.s.Tuning.Interval
	jobs := make([]plannedJob, 0, len(chunk))
	file := make([]store.DueEntry, 0, len(chunk))
	var mark []store.DueEntry
	next := map[string]store.DueEntry{}
	moves := map[string][]store.NextSync{}
	var tenants []string
	for _, e := range chunk {
		at := maxTime(e.DueAt, r.now)
		// A time a dead run noted is kept when it is beyond this run's
		// horizon; one within it (the dead run's entry there was read,
		// and dropped as the user's second) is computed again.
		//
		// The next time counts from the due time, so a user read a little
		// after it (the timer fires late by some milliseconds, and
		// the run's own time passes) stays on their interval; only a user
		// so late that it would fall within this run's horizon (a backlog,
		// a capped run) counts from now, back to their place.
		nextAt := e.Next
		if nextAt.Before(r.cutoff) {
			if nextAt = NextDue(e.TenantID, e.UserID, e.DueAt, interval); nextAt.Before(r.cutoff) {
				nextAt = NextDue(e.TenantID, e.UserID, at, interval)
			}
			e.Next = nextAt
			mark = append(mark, e)
		}
		n := store.DueEntryOf(e.TenantID, e.UserID, nextAt)
		jobs = append(jobs, plannedJob{job: queue.NewSyncJob(e.TenantID, e.UserID, queue.ReasonScheduled, e.DueAt), at: at})
		file = append(file, n)
		next[e.TenantID+"/"+e.UserID] = n
		if moves[e.TenantID] == nil {
			tenants = append(tenants, e.TenantID)
		}
		moves[e.TenantID] = append(moves[e.TenantID], store.NextSync{UserID: e.UserID, At: n.DueAt})
	}
	if err := r.s.Index.MarkNext(ctx, mark); err != nil {
		return fmt.Errorf("note the next syncs of %d users: %w", len(mark), err)
	}
	if err := r.send(ctx, jobs); err != nil {
		return err
	}
	if err := r.s.Index.Put(ctx, file); err != nil {
		return fmt.Errorf("file the next syncs of %d users: %w", len(file), err)
	}
	var gone []store.DueEntry
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(movesInFlight)
	for _, t := range tenants {
		g.Go(func() error {
			users, err := r.s.Conns.SetNextSync(gctx, t, moves[t])
			if err != nil {
				return fmt.Errorf("move the next sync of %d users: %w", len(moves[t]), err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, u := range users {
				gone = append(gone, next[t+"/"+u]) // erased: its job finds nothing to do
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := r.s.Index.Delete(ctx, append(slices.Clone(chunk), gone...)); err != nil {
		return fmt.Errorf("delete %d due index entries dealt with: %w", len(chunk), err)
	}
	r.res.Dropped += len(gone)
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// plannedJob is a job and when it is to be delivered.
type plannedJob struct {
	job queue.SyncJob
	at  time.Time
}

// send sends the jobs due now in batches and schedules the others, one
// request per moment (NextDue puts users on at most 64 moments of an
// interval), a few at a time.
func (r *run) send(ctx context.Context, jobs []plannedJob) error {
	var nowJobs []queue.SyncJob
	later := map[time.Time][]queue.SyncJob{}
	for _, j := range jobs {
		if !j.at.After(r.now) {
			nowJobs = append(nowJobs, j.job)
		} else {
			later[j.at] = append(later[j.at], j.job)
		}
	}
	if len(nowJobs) > 0 {
		if err := r.s.Jobs.Send(ctx, nowJobs...); err != nil {
			return fmt.Errorf("send %d sync jobs: %w", len(nowJobs), err)
		}
	}
	times := make([]time.Time, 0, len(later))
	for at := range later {
		times = append(times, at)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(sendsInFlight)
	for _, at := range times {
		g.Go(func() error {
			if _, err := r.s.Jobs.ScheduleAt(gctx, at, later[at]...); err != nil {
				return fmt.Errorf("schedule %d sync jobs for %s: %w", len(later[at]), at.Format(time.RFC3339), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	r.res.Enqueued += len(jobs)
	r.res.Scheduled += len(jobs) - len(nowJobs)
	return nil
}

// NextDue is when the user of tenant is due after a sync queued for at:
// the first moment of the user's own place in the interval (Phase) at
// least an interval after at. From a user's due time (at on their moment)
// it is exactly one interval later; from a later time (a backlog, a
// sign-in) it goes back to their place, within two intervals. The run
// (chunk) counts from the due time unless that falls within its horizon,
// so the next sync is beyond what the run read, and the next run whose
// horizon reaches it queues it for its moment.
func NextDue(tenant, user string, at time.Time, interval time.Duration) time.Time {
	base := at.Add(interval)
	next := base.Truncate(interval).Add(Phase(tenant, user, interval))
	if next.Before(base) {
		next = next.Add(interval)
	}
	return next.UTC()
}

// Phase is the user's place in the interval: a stable offset from the
// interval's start, one of at most 64 moments (whole seconds apart) chosen
// by a hash of tenant and user, so the users of a tenant are due spread
// evenly over the interval rather than all at its start.
func Phase(tenant, user string, interval time.Duration) time.Duration {
	quantum := max(time.Second, (interval / 64).Truncate(time.Second))
	moments := int64(interval / quantum)
	sum := sha256.Sum256([]byte(tenant + "|" + user))
	return time.Duration(binary.BigEndian.Uint64(sum[:8])%uint64(moments)) * quantum
}

// fairQueue hands out a run's due entries round-robin between tenants,
// earliest first within a tenant, so each tenant with users due gets a
// share of the run's jobs (at most max in all, perTenant each) whatever
// the number of users of the others.
type fairQueue struct {
	tenants        []*tenantQueue // in turn order
	turn           int
	max, perTenant int
	taken          int
}

type tenantQueue struct {
	id      string
	entries []store.DueEntry
	next    int
}

// newFairQueue orders the tenants by their earliest entry (then by id),
// so the tenant waiting longest goes first.
func newFairQueue(entries []store.DueEntry, max, perTenant int) *fairQueue {
	if perTenant <= 0 || perTenant > max {
		perTenant = max
	}
	q := &fairQueue{max: max, perTenant: perTenant}
	byID := map[string]*tenantQueue{}
	for _, e := range entries { // sorted by due time
		t := byID[e.TenantID]
		if t == nil {
			t = &tenantQueue{id: e.TenantID}
			byID[e.TenantID] = t
			q.tenants = append(q.tenants, t)
		}
		t.entries = append(t.entries, e)
	}
	slices.SortFunc(q.tenants, func(a, b *tenantQueue) int {
		if c := a.entries[0].DueAt.Compare(b.entries[0].DueAt); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return q
}

// take hands out up to n entries, one per tenant in turn.
func (q *fairQueue) take(n int) []store.DueEntry {
	var out []store.DueEntry
	for len(out) < n && q.taken < q.max {
		progressed := false
		for range q.tenants {
			t := q.tenants[q.turn]
			q.turn = (q.turn + 1) % len(q.tenants)
			if t.next == len(t.entries) || t.next >= q.perTenant {
				continue
			}
			out = append(out, t.entries[t.next])
			t.next++
			q.taken++
			progressed = true
			break
		}
		if !progressed {
			break
		}
	}
	return out
}

// left is the number of entries not handed out.
func (q *fairQueue) left() int {
	n := 0
	for _, t := range q.tenants {
		n += len(t.entries) - t.next
	}
	return n
}

// tenantsTaken is the number of tenants with entries handed out.
func (q *fairQueue) tenantsTaken() int {
	n := 0
	for _, t := range q.tenants {
		if t.next > 0 {
			n++
		}
	}
	return n
}
