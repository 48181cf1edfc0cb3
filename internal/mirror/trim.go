package mirror

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/pitcher/connector/internal/store"
)

// A user's change log is trimmed: entries older than the retention are
// deleted, oldest first, and the highest sequence number deleted is kept
// in the log's partition under trimmedKey. A reader whose cursor is below
// it has missed changes for good (ErrCursorExpired) and reads the mirror
// again from a snapshot (see Read). The newest entry is never deleted, so
// a reader that missed entries always meets a gap in the numbers, and only
// then is trimmedKey read.

// trimmedKey is the RowKey of the trim record in a user's change-log
// partition; '!' sorts before the digits of sequence numbers, so reads of
// the log never meet it.
const trimmedKey = "!trimmed"

// ErrCursorExpired reports a cursor that points into the trimmed part of a
// change log: the changes it would need are gone.
var ErrCursorExpired = errors.New("mirror: the changes after this cursor are older than the change log keeps")

// trimPage is how many log entries one read of a trim looks at.
const trimPage = 1000

// TrimChanges deletes the entries of the change log of user in tenant that
// were written before cutoff, oldest first, except the newest entry, and at
// most limit of them; it returns how many it deleted and whether older
// entries are left (the limit was reached). The trim record is raised
// before anything is deleted, so a reader never misses entries unawares.
// The caller holds the user's sync lease (no one appends meanwhile).
func (s *Store) TrimChanges(ctx context.Context, tenant, user string, cutoff time.Time, limit int) (int, bool, error) {
	pk := store.UserPartition(tenant, user)
	old, more, err := s.oldChanges(ctx, pk, cutoff, limit)
	if err != nil || len(old) == 0 {
		return 0, false, err
	}
	through, err := strconv.ParseInt(old[len(old)-1], 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("mirror: change %q has no sequence number", old[len(old)-1])
	}
	if err := s.raiseTrimmed(ctx, pk, through); err != nil {
		return 0, false, err
	}
	b := newBatcher(s.changes, "changes")
	for _, rk := range old {
		if err := b.add(ctx, aztables.TransactionTypeDelete, pk, rk, nil); err != nil {
			return 0, false, err
		}
	}
	if err := b.flush(ctx); err != nil {
		return 0, false, err
	}
	return len(old), more, nil
}

// oldChanges lists, in order, the RowKeys of up to limit entries of the
// log in partition pk written before cutoff, stopping at the first newer
// one; when the log ends first, its newest entry is left out. more reports
// that the limit cut the list short.
func (s *Store) oldChanges(ctx context.Context, pk string, cutoff time.Time, limit int) (keys []string, more bool, err error) {
	filter := fmt.Sprintf("PartitionKey eq '%s' and RowKey ge '0'", quote(pk))
	sel := "RowKey,Timestamp"
	top := int32(min(limit+1, trimPage))
	pager := s.changes.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: &sel, Top: &top})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("mirror: list old changes: %w", err)
		}
		for _, raw := range page.Entities {
			var e struct {
				RowKey    string
				Timestamp time.Time
			}
			if err := unmarshal(raw, &e); err != nil {
				return nil, false, err
			}
			if !e.Timestamp.Before(cutoff) {
				return keys, false, nil
			}
			if len(keys) == limit {
				return keys, true, nil
			}
			keys = append(keys, e.RowKey)
		}
	}
	// The log ended: every entry is old. Keep the newest.
	if len(keys) > 0 {
		keys = keys[:len(keys)-1]
	}
	return keys, false, nil
}

// raiseTrimmed records that the log of partition pk is trimmed through seq
// (never lowering an earlier record).
func (s *Store) raiseTrimmed(ctx context.Context, pk string, seq int64) error {
	cur, err := s.trimmedThrough(ctx, pk)
	if err != nil || cur >= seq {
		return err
	}
	body, err := aztables.EDMEntity{
		Entity:     aztables.Entity{PartitionKey: pk, RowKey: trimmedKey},
		Properties: map[string]any{"Through": aztables.EDMInt64(seq)},
	}.MarshalJSON()
	if err != nil {
		return fmt.Errorf("mirror: encode the trim record: %w", err)
	}
	if _, err := s.changes.UpsertEntity(ctx, body, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
		return fmt.Errorf("mirror: write the trim record: %w", err)
	}
	return nil
}

// trimmedThrough returns the highest sequence number trimmed from the log
// of partition pk, 0 when it never was.
func (s *Store) trimmedThrough(ctx context.Context, pk string) (int64, error) {
	resp, err := s.changes.GetEntity(ctx, pk, trimmedKey, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("mirror: read the trim record: %w", err)
	}
	var e struct {
		Through int64 `json:",string"` // Edm.Int64 travels as a string
	}
	if err := unmarshal(resp.Value, &e); err != nil {
		return 0, err
	}
	return e.Through, nil
}
