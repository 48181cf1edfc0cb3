package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// SyncStateTable holds each user's sync state (docs/architecture.md, "State"):
// PartitionKey = UserPartition(tenant, user); RowKey = the entity set name
// for the set's state, or LeaseRowKey for the user's lease.
const SyncStateTable = "syncstate"

// LeaseRowKey is the RowKey of a user's lease; entity set names cannot
// contain '$', so it never collides with a set's row.
const LeaseRowKey = "$lease"

// UserPartition is the partition key of a user's sync state, mirror and
// change log: "<tenant id>_<user object id>". Every key of user data holds
// both ids.
func UserPartition(tenant, user string) string { return tenant + "_" + user }

// Lease is a user's sync lease. Only one worker holds it at a time; the
// row also carries the user's next change-log sequence number, which only
// the holder advances.
type Lease struct {
	// Owner identifies the holder (unique per worker run); "" when free.
	Owner string
	// Until is when the lease expires unless renewed.
	Until time.Time
	// NextSeq is the next unused sequence number of the user's change log.
	NextSeq int64
	// TrimmedAt is when the user's change log was last trimmed.
	TrimmedAt time.Time
	// ETag is the version read or written last.
	ETag azcore.ETag
}

// Sync modes of an entity set.
const (
	ModeChangeTracking = "changetracking" // Dataverse change tracking (delta links)
	ModeWatermark      = "watermark"      // a modifiedon watermark, for tables without it
)

// Kinds of full read.
const (
	FullRows = "rows" // every row and column: a first read, or a read again from the start
	FullIDs  = "ids"  // only the ids: the reconcile of a table without change tracking
)

// SetState is what the sync keeps about one entity set of one user.
type SetState struct {
	EntitySet string
	// Mode is ModeChangeTracking or ModeWatermark; PrimaryKey the table's
	// primary id column. Both come from the table's metadata, read once.
	Mode       string
	PrimaryKey string
	// LogicalName is the table's logical name (account), which notes name
	// the table they regard by (objecttypecode).
	LogicalName string
	// Select is the column list the delta link or watermark was made with;
	// when the configuration changes it, the set is read again in full.
	Select string
	// DeltaLink is where the next change-tracking read resumes.
	DeltaLink string
	// Watermark is the greatest modifiedon seen (watermark mode), and
	// WatermarkReadAt when the read that saw it started.
	Watermark       time.Time
	WatermarkReadAt time.Time
	// LastReconcile is when a watermark set was last compared in full.
	LastReconcile time.Time
	// Generation numbers full reads: the mirror's rows carry the generation
	// that last saw them, so a full read can sweep rows it did not see.
	Generation int64

	// A full read in progress that has not finished within one invocation
	// (checkpointed after every page it persisted). FullKind says what it
	// reads (FullRows or FullIDs), "" when none is in progress;
	// FullNextLink is the @odata.nextLink it continues from, verbatim;
	// FullGeneration is the generation it marks the rows it sees with;
	// FullWatermark is the greatest modifiedon it saw (watermark mode);
	// FullStarted is when it began; FullRead counts the rows read so far.
	FullKind       string
	FullNextLink   string
	FullGeneration int64
	FullWatermark  time.Time
	FullStarted    time.Time
	FullRead       int64

	// The last run: when it ended well, and what it did.
	LastSuccess time.Time
	LastRun     time.Time
	Upserted    int64
	Deleted     int64
	Pages       int64
	Requests    int64
	DurationMs  int64
	// Pending and Gone (sets of related rows: relatedTo, the notes) list
	// the parent rows, as "<entity set>:<id>" separated by spaces, that
	// entered or left the user's mirror since this set's last run: the next
	// run reads the children of the first and deletes those of the others.
	Pending, Gone string

	// LastError is the last run's failure, "" after a success.
	LastError   string
	LastErrorAt time.Time
}

// SyncStates is the syncstate table.
type SyncStates struct{ table *aztables.Client }

// NewSyncStates returns the syncstate table of db.
func NewSyncStates(db *DB) *SyncStates { return &SyncStates{table: db.Table(SyncStateTable)} }

// Lease reads the lease of user in tenant, or an error wrapping ErrNotFound.
func (s *SyncStates) Lease(ctx context.Context, tenant, user string) (Lease, error) {
	resp, err := s.table.GetEntity(ctx, UserPartition(tenant, user), LeaseRowKey, nil)
	if err != nil {
		return Lease{}, mapErr(err, "get sync lease "+tenant+"/"+user)
	}
	e, err := decode(resp.Value)
	if err != nil {
		return Lease{}, mapErr(err, "decode sync lease "+tenant+"/"+user)
	}
	p := props(e.Properties)
	return Lease{Owner: p.str("Owner"), Until: p.time("Until"), NextSeq: p.int64("NextSeq"), TrimmedAt: p.time("TrimmedAt"), ETag: resp.ETag}, nil
}

// CreateLease inserts the first lease of a user; ErrConflict if one exists.
func (s *SyncStates) CreateLease(ctx context.Context, tenant, user string, l Lease) (azcore.ETag, error) {
	resp, err := s.table.AddEntity(ctx, encode(UserPartition(tenant, user), LeaseRowKey, leaseProps(l)), nil)
	if err != nil {
		return "", mapErr(err, "create sync lease "+tenant+"/"+user)
	}
	return resp.ETag, nil
}

// UpdateLease replaces the lease if it is still at l.ETag; ErrConflict otherwise.
func (s *SyncStates) UpdateLease(ctx context.Context, tenant, user string, l Lease) (azcore.ETag, error) {
	etag := l.ETag
	resp, err := s.table.UpdateEntity(ctx, encode(UserPartition(tenant, user), LeaseRowKey, leaseProps(l)),
		&aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
	if err != nil {
		return "", mapErr(err, "update sync lease "+tenant+"/"+user)
	}
	return resp.ETag, nil
}

// DeleteLease removes the lease row if it is still at etag (ErrConflict
// otherwise); a row that is gone is not an error.
func (s *SyncStates) DeleteLease(ctx context.Context, tenant, user string, etag azcore.ETag) error {
	_, err := s.table.DeleteEntity(ctx, UserPartition(tenant, user), LeaseRowKey, &aztables.DeleteEntityOptions{IfMatch: &etag})
	if err = mapErr(err, "delete sync lease "+tenant+"/"+user); errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// CommitSet writes sets' states in one transaction with the lease at
// l.ETag (replaced by l): the states are stored only while the writer still
// holds the lease, else ErrConflict and nothing changes. It returns the
// lease's new ETag.
func (s *SyncStates) CommitSet(ctx context.Context, tenant, user string, l Lease, sts ...SetState) (azcore.ETag, error) {
	pk := UserPartition(tenant, user)
	etag := l.ETag
	actions := []aztables.TransactionAction{
		{ActionType: aztables.TransactionTypeUpdateReplace, Entity: encode(pk, LeaseRowKey, leaseProps(l)), IfMatch: &etag}}
	for _, st := range sts {
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: encode(pk, st.EntitySet, setProps(st))})
	}
	_, err := s.table.SubmitTransaction(ctx, actions, nil)
	if err != nil {
		// A refused transaction comes back as one error for the batch,
		// whatever refused it: a lease that moved on is a conflict.
		if got, gerr := s.Lease(ctx, tenant, user); errors.Is(gerr, ErrNotFound) || gerr == nil && got.ETag != l.ETag {
			return "", fmt.Errorf("commit sync state %s/%s: the lease changed hands: %w", tenant, user, ErrConflict)
		}
		return "", mapErr(err, "commit sync state "+tenant+"/"+user)
	}
	// A transaction does not return the new ETags: read the lease back.
	got, err := s.Lease(ctx, tenant, user)
	if err != nil {
		return "", err
	}
	if got.Owner != l.Owner {
		return "", fmt.Errorf("commit sync state %s/%s: the lease changed hands right after: %w", tenant, user, ErrConflict)
	}
	return got.ETag, nil
}

// PutSet writes a set's state unconditionally (for runs that failed before
// they could commit: the counters and the error, never a new delta link).
func (s *SyncStates) PutSet(ctx context.Context, tenant, user string, st SetState) error {
	_, err := s.table.UpsertEntity(ctx, encode(UserPartition(tenant, user), st.EntitySet, setProps(st)),
		&aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
	return mapErr(err, "put sync state "+tenant+"/"+user+"/"+st.EntitySet)
}

// Sets returns the state of every entity set of user in tenant, by name.
func (s *SyncStates) Sets(ctx context.Context, tenant, user string) (map[string]SetState, error) {
	pk := UserPartition(tenant, user)
	filter := fmt.Sprintf("PartitionKey eq '%s' and RowKey ne '%s'", escapeFilter(pk), LeaseRowKey)
	pager := s.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	out := map[string]SetState{}
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, mapErr(err, "list sync state "+tenant+"/"+user)
		}
		for _, raw := range page.Entities {
			e, err := decode(raw)
			if err != nil {
				return nil, mapErr(err, "decode sync state "+tenant+"/"+user)
			}
			st := setState(e)
			out[st.EntitySet] = st
		}
	}
	return out, nil
}

func leaseProps(l Lease) map[string]any {
	p := map[string]any{"Owner": l.Owner, "NextSeq": aztables.EDMInt64(l.NextSeq)}
	edmTime(p, "Until", l.Until)
	edmTime(p, "TrimmedAt", l.TrimmedAt)
	return p
}

func setProps(st SetState) map[string]any {
	p := map[string]any{
		"Mode": st.Mode, "PrimaryKey": st.PrimaryKey, "LogicalName": st.LogicalName, "Pending": st.Pending, "Gone": st.Gone, "Select": st.Select, "DeltaLink": st.DeltaLink,
		"Generation": aztables.EDMInt64(st.Generation), "Upserted": aztables.EDMInt64(st.Upserted),
		"Deleted": aztables.EDMInt64(st.Deleted), "Pages": aztables.EDMInt64(st.Pages),
		"Requests": aztables.EDMInt64(st.Requests), "DurationMs": aztables.EDMInt64(st.DurationMs), "LastError": st.LastError,
		"FullKind": st.FullKind, "FullNextLink": st.FullNextLink, "FullGeneration": aztables.EDMInt64(st.FullGeneration),
		"FullRead": aztables.EDMInt64(st.FullRead),
	}
	edmTime(p, "FullWatermark", st.FullWatermark)
	edmTime(p, "FullStarted", st.FullStarted)
	edmTime(p, "Watermark", st.Watermark)
	edmTime(p, "WatermarkReadAt", st.WatermarkReadAt)
	edmTime(p, "LastReconcile", st.LastReconcile)
	edmTime(p, "LastSuccess", st.LastSuccess)
	edmTime(p, "LastRun", st.LastRun)
	edmTime(p, "LastErrorAt", st.LastErrorAt)
	return p
}

func setState(e aztables.EDMEntity) SetState {
	p := props(e.Properties)
	return SetState{
		EntitySet: e.RowKey, Mode: p.str("Mode"), PrimaryKey: p.str("PrimaryKey"), LogicalName: p.str("LogicalName"), Pending: p.str("Pending"), Gone: p.str("Gone"), Select: p.str("Select"),
		DeltaLink: p.str("DeltaLink"), Watermark: p.time("Watermark"), WatermarkReadAt: p.time("WatermarkReadAt"), LastReconcile: p.time("LastReconcile"),
		Generation: p.int64("Generation"), LastSuccess: p.time("LastSuccess"), LastRun: p.time("LastRun"),
		Upserted: p.int64("Upserted"), Deleted: p.int64("Deleted"), Pages: p.int64("Pages"), Requests: p.int64("Requests"),
		DurationMs: p.int64("DurationMs"), LastError: p.str("LastError"), LastErrorAt: p.time("LastErrorAt"),
		FullKind: p.str("FullKind"), FullNextLink: p.str("FullNextLink"), FullGeneration: p.int64("FullGeneration"),
		FullWatermark: p.time("FullWatermark"), FullStarted: p.time("FullStarted"), FullRead: p.int64("FullRead"),
	}
}

// escapeFilter doubles single quotes for an OData string literal.
func escapeFilter(s string) string { return strings.ReplaceAll(s, "'", "''") }
