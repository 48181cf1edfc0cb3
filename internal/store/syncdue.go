package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
)

// SyncDueTable is the scheduler's due index (docs/architecture.md,
// "State"): one entry per active connection, PartitionKey = the minute
// its next sync is due (DueBucket, "200601021504", UTC: twelve digits, so
// string order is time order), RowKey = "<tenant>_<user>", DueAt = the
// exact time. The scheduler reads the entries due with one key-range
// query (PartitionKey lt the bucket of its horizon), which Table Storage
// serves without reading the entries of later minutes, and deletes each
// entry it has dealt with, so the range holds only what is pending:
// finding the users due costs what they are, not what the connections
// table holds.
//
// The connection row is the truth; the index follows it: a sign-in that
// makes a connection active files it (Connections.Update), a connection
// that stops being active (MarkReauthRequired, MarkErasing) takes its
// entry out, the scheduler moves it. What a crash leaves between the two
// writes is repaired by the scheduler's hourly reconciliation
// (internal/syncer, Scheduler.Run); an entry left of a connection that
// is not active only queues a job its worker completes without work.
const SyncDueTable = "syncdue"

// DueBucketLayout is the layout of a due bucket (a PartitionKey of
// SyncDueTable): the minute, UTC.
const DueBucketLayout = "200601021504"

// DueBucketWidth is the time one bucket covers.
const DueBucketWidth = time.Minute

// sweepPartition holds the row that records the last sweep. It sorts
// after every bucket (letters after digits), so no range of buckets
// reads it.
const sweepPartition, sweepRow = "sweep", "state"

// DueBucket is the bucket of t.
func DueBucket(t time.Time) string { return t.UTC().Format(DueBucketLayout) }

// DueEntry is one entry of the due index: the user of tenant is due at
// DueAt, in the minute Bucket. An entry whose keys are not an entry's
// (Malformed) carries only Bucket and Key, as stored, so that it can be
// deleted; one whose keys are right but whose DueAt is missing or not in
// its minute (HalfWritten) carries its keys, without DueAt.
type DueEntry struct {
	Bucket           string
	TenantID, UserID string
	DueAt            time.Time
	// Next is the next due time a scheduler run noted before it filed the
	// user's next entry (MarkNext); zero when none did.
	Next time.Time
	// Key is the RowKey.
	Key                    string
	Malformed, HalfWritten bool
}

// DueEntryOf is the entry of user of tenant due at at.
func DueEntryOf(tenant, user string, at time.Time) DueEntry {
	at = at.UTC()
	return DueEntry{Bucket: DueBucket(at), TenantID: tenant, UserID: user, DueAt: at, Key: tenant + "_" + user}
}

// parseDueEntry reads an entry: a bucket that is a minute, a RowKey of two
// GUIDs (Entra's tenant and object ids) joined by "_", a DueAt in the
// bucket's minute.
func parseDueEntry(pk, rk string, p props) DueEntry {
	e := DueEntry{Bucket: pk, Key: rk}
	tenant, user, ok := strings.Cut(rk, "_")
	if _, err := time.Parse(DueBucketLayout, pk); err != nil || len(pk) != len(DueBucketLayout) || !ok || !isGUID(tenant) || !isGUID(user) {
		e.Malformed = true
		return e
	}
	e.TenantID, e.UserID = tenant, user
	if at := p.time("DueAt"); !at.IsZero() && DueBucket(at) == pk {
		e.DueAt = at
	} else {
		e.HalfWritten = true
		return e
	}
	if next := p.time("Next"); next.After(e.DueAt) {
		e.Next = next
	}
	return e
}

func isGUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// DueIndex is the due index.
type DueIndex struct{ table *aztables.Client }

// NewDueIndex returns the due index of db.
func NewDueIndex(db *DB) *DueIndex { return &DueIndex{table: db.Table(SyncDueTable)} }

// List calls fn with the entries in the buckets before the one of before
// (all of them due before before's minute), a page of up to 1000 at a
// time, in key order: oldest bucket first, by tenant within one. Entries
// that do not parse come with Malformed or HalfWritten set, never as an
// error.
func (x *DueIndex) List(ctx context.Context, before time.Time, fn func([]DueEntry) error) error {
	filter := "PartitionKey lt " + quote(DueBucket(before))
	return x.list(ctx, &filter, fn)
}

// ListAll calls fn with every entry of the index, a page of up to 1000 at
// a time, in key order (the reconciliation's read of the whole index).
func (x *DueIndex) ListAll(ctx context.Context, fn func([]DueEntry) error) error {
	return x.list(ctx, nil, fn)
}

func (x *DueIndex) list(ctx context.Context, filter *string, fn func([]DueEntry) error) error {
	sel := "PartitionKey,RowKey,DueAt,Next"
	pager := x.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: filter, Select: &sel})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return mapErr(err, "list the due index")
		}
		out := make([]DueEntry, 0, len(page.Entities))
		for _, raw := range page.Entities {
			e, err := decode(raw)
			if err != nil {
				return mapErr(err, "decode a due index entry")
			}
			if e.PartitionKey == sweepPartition {
				continue
			}
			out = append(out, parseDueEntry(e.PartitionKey, e.RowKey, props(e.Properties)))
		}
		if len(out) == 0 {
			continue
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return nil
}

// Put files entries (inserted, or replaced when there), in transactions
// of up to 100 per bucket.
func (x *DueIndex) Put(ctx context.Context, entries []DueEntry) error {
	return x.each(ctx, entries, "file due index entries", func(e DueEntry) aztables.TransactionAction {
		return aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: encode(e.Bucket, e.Key, map[string]any{"DueAt": aztables.EDMDateTime(e.DueAt)})}
	})
}

// MarkNext notes on entries the next due time their users are about to
// be filed at (Next), before the scheduler files them: a run that dies
// after filing a user's next entry and before deleting this one leaves
// the next run the same next time, so the user keeps one entry. An entry
// that is gone is skipped.
func (x *DueIndex) MarkNext(ctx context.Context, entries []DueEntry) error {
	anyETag := azcore.ETagAny
	return x.each(ctx, entries, "note the next due times on due index entries", func(e DueEntry) aztables.TransactionAction {
		return aztables.TransactionAction{ActionType: aztables.TransactionTypeUpdateMerge, IfMatch: &anyETag,
			Entity: encode(e.Bucket, e.Key, map[string]any{"Next": aztables.EDMDateTime(e.Next)})}
	})
}

// Delete removes entries; one that is not there is not an error, nor is
// one with an empty key, which the Azure SDK cannot address: it is left.
func (x *DueIndex) Delete(ctx context.Context, entries []DueEntry) error {
	entries = slices.DeleteFunc(slices.Clone(entries), func(e DueEntry) bool { return e.Bucket == "" || e.Key == "" })
	anyETag := azcore.ETagAny
	return x.each(ctx, entries, "delete due index entries", func(e DueEntry) aztables.TransactionAction {
		return aztables.TransactionAction{ActionType: aztables.TransactionTypeDelete, IfMatch: &anyETag, Entity: encode(e.Bucket, e.Key, nil)}
	})
}

// each applies the action of each entry, grouped by bucket in
// transactions of up to 100. A transaction that fails (an update or a
// deletion of an entry that is gone fails its whole transaction) is done
// again one entry at a time, where a missing entry is not an error.
func (x *DueIndex) each(ctx context.Context, entries []DueEntry, what string, action func(DueEntry) aztables.TransactionAction) error {
	byBucket := map[string][]DueEntry{}
	var order []string
	seen := map[[2]string]bool{}
	for _, e := range entries {
		if seen[[2]string{e.Bucket, e.Key}] {
			continue // a transaction may name an entity once
		}
		seen[[2]string{e.Bucket, e.Key}] = true
		if byBucket[e.Bucket] == nil {
			order = append(order, e.Bucket)
		}
		byBucket[e.Bucket] = append(byBucket[e.Bucket], e)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(dueWritesInFlight)
	for _, b := range order {
		list := byBucket[b]
		for start := 0; start < len(list); start += 100 {
			chunk := list[start:min(start+100, len(list))]
			g.Go(func() error {
				actions := make([]aztables.TransactionAction, len(chunk))
				for i, e := range chunk {
					actions[i] = action(e)
				}
				if len(actions) > 1 {
					if _, err := x.table.SubmitTransaction(gctx, actions, nil); err == nil {
						return nil
					}
					if err := gctx.Err(); err != nil {
						return err
					}
				}
				for _, a := range actions {
					if err := x.one(gctx, a, what); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	return g.Wait()
}

// dueWritesInFlight bounds the concurrent transactions of one call.
const dueWritesInFlight = 8

func (x *DueIndex) one(ctx context.Context, a aztables.TransactionAction, what string) error {
	var err error
	switch a.ActionType {
	case aztables.TransactionTypeDelete:
		e, _ := decode(a.Entity)
		_, err = x.table.DeleteEntity(ctx, e.PartitionKey, e.RowKey, &aztables.DeleteEntityOptions{IfMatch: a.IfMatch})
	case aztables.TransactionTypeUpdateMerge:
		_, err = x.table.UpdateEntity(ctx, a.Entity, &aztables.UpdateEntityOptions{IfMatch: a.IfMatch, UpdateMode: aztables.UpdateModeMerge})
	default:
		_, err = x.table.UpsertEntity(ctx, a.Entity, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
	}
	if err = mapErr(err, what); errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// LastSweep returns when the last sweep of the index (the scheduler's
// reconciliation with the connections) began; found is
// false when no sweep has run yet (the index may be empty: a deployment
// from before the index, or a new one).
func (x *DueIndex) LastSweep(ctx context.Context) (at time.Time, found bool, err error) {
	resp, err := x.table.GetEntity(ctx, sweepPartition, sweepRow, nil)
	if err = mapErr(err, "read the due index's last sweep"); errors.Is(err, ErrNotFound) {
		return time.Time{}, false, nil
	} else if err != nil {
		return time.Time{}, false, err
	}
	e, err := decode(resp.Value)
	if err != nil {
		return time.Time{}, false, mapErr(err, "decode the due index's last sweep")
	}
	// A row without a readable time counts as a sweep long ago, not as
	// none: it must not start another backfill.
	return props(e.Properties).time("SweptAt"), true, nil
}

// RecordSweep records that a sweep that began at at has finished.
func (x *DueIndex) RecordSweep(ctx context.Context, at time.Time) error {
	_, err := x.table.UpsertEntity(ctx, encode(sweepPartition, sweepRow, map[string]any{"SweptAt": aztables.EDMDateTime(at.UTC())}),
		&aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
	return mapErr(err, "record the due index's sweep")
}
