package mirror

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/pitcher/connector/internal/store"
)

// Cursor is where a reader of a user's mirror is. A reader starts with the
// zero Cursor. While the change log is whole, it reads the log from its
// first entry; once the log was trimmed, it first reads a snapshot (every
// row of the mirror, as upserts), then the log from where it was trimmed.
// Rows that change during the snapshot are in that part of the log, so a
// reader that applies everything in order ends with the mirror.
type Cursor struct {
	// Seq is the last log entry read (in the snapshot: where the log
	// part starts).
	Seq int64
	// Snapshot is true while the mirror's rows are read; After is the last
	// row read ("" before the first).
	Snapshot bool
	After    string
}

// String encodes c for clients, who treat it as opaque: the log position
// is a plain number (as cursors were before snapshots existed), a
// snapshot position "s<seq>.<base64url of the last row's key>".
func (c Cursor) String() string {
	if !c.Snapshot {
		return strconv.FormatInt(c.Seq, 10)
	}
	return "s" + strconv.FormatInt(c.Seq, 10) + "." + base64.RawURLEncoding.EncodeToString([]byte(c.After))
}

// errBadCursor is the cause of every cursor ParseCursor refuses.
var errBadCursor = errors.New("not a cursor this API returned")

// ParseCursor decodes a cursor String made; "" is the zero Cursor.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	seqText, after, snapshot := strings.Cut(strings.TrimPrefix(s, "s"), ".")
	if snapshot != strings.HasPrefix(s, "s") {
		return Cursor{}, errBadCursor
	}
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if err != nil || seq < 0 || strconv.FormatInt(seq, 10) != seqText {
		return Cursor{}, errBadCursor
	}
	key, err := base64.RawURLEncoding.DecodeString(after)
	if err != nil {
		return Cursor{}, errBadCursor
	}
	return Cursor{Seq: seq, Snapshot: snapshot, After: string(key)}, nil
}

// Read returns up to limit (1–MaxChangesPage) changes of the mirror of
// user in tenant after c, the cursor after them, and whether more follow
// right away. A cursor in the trimmed part of the log fails with
// ErrCursorExpired: the reader must drop its copy and start again from the
// zero Cursor.
func (s *Store) Read(ctx context.Context, tenant, user string, c Cursor, limit int) ([]Change, Cursor, bool, error) {
	if limit < 1 || limit > MaxChangesPage {
		return nil, c, false, fmt.Errorf("mirror: limit %d is not from 1 to %d", limit, MaxChangesPage)
	}
	if c == (Cursor{}) {
		through, err := s.trimmedThrough(ctx, store.UserPartition(tenant, user))
		if err != nil {
			return nil, c, false, err
		}
		if through > 0 {
			c = Cursor{Seq: through, Snapshot: true}
		}
	}
	if c.Snapshot {
		return s.snapshot(ctx, tenant, user, c, limit)
	}
	list, more, err := s.Changes(ctx, tenant, user, c.Seq, limit)
	if err != nil {
		return nil, c, false, err
	}
	if len(list) > 0 {
		c.Seq = list[len(list)-1].Seq
	}
	return list, c, more, nil
}

// snapshot reads the next rows of the mirror after c.After as upserts.
// When the rows run out, the cursor moves to the log at c.Seq.
func (s *Store) snapshot(ctx context.Context, tenant, user string, c Cursor, limit int) ([]Change, Cursor, bool, error) {
	filter := fmt.Sprintf("PartitionKey eq '%s' and RowKey gt '%s'", quote(store.UserPartition(tenant, user)), quote(c.After))
	top := int32(limit + 1)
	pager := s.records.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Top: &top})
	var out []Change
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, c, false, fmt.Errorf("mirror: read the snapshot: %w", err)
		}
		for _, raw := range page.Entities {
			if len(out) == limit {
				c.After = recordKey(out[len(out)-1].EntitySet, out[len(out)-1].ID)
				return out, c, true, nil
			}
			var e struct {
				RowKey string
				Data   *string
				Blob   string
			}
			if err := unmarshal(raw, &e); err != nil {
				return nil, c, false, err
			}
			// Ids are GUIDs; entity set names may hold '_' (new_things).
			i := strings.LastIndexByte(e.RowKey, '_')
			if i < 0 {
				return nil, c, false, fmt.Errorf("mirror: row %q has no entity set", e.RowKey)
			}
			data, err := s.data(ctx, e.Data, e.Blob)
			if err != nil {
				return nil, c, false, err
			}
			out = append(out, Change{EntitySet: e.RowKey[:i], ID: e.RowKey[i+1:], Op: OpUpsert, Data: data})
		}
	}
	// The snapshot is read: the log follows from where it was trimmed.
	return out, Cursor{Seq: c.Seq}, true, nil
}
