package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"golang.org/x/sync/errgroup"

	"github.com/pitcher/connector/internal/store"
)

// MaxChangesPage is the most changes one Changes call returns.
const MaxChangesPage = 1000

// Changes returns up to limit (1–MaxChangesPage) entries of the change log
// of user in tenant with a sequence number above after, in order, and
// whether more follow, or ErrCursorExpired when entries after it were
// trimmed. Only that user's partition is read.
func (s *Store) Changes(ctx context.Context, tenant, user string, after int64, limit int) ([]Change, bool, error) {
	if limit < 1 || limit > MaxChangesPage {
		return nil, false, fmt.Errorf("mirror: limit %d is not from 1 to %d", limit, MaxChangesPage)
	}
	filter := fmt.Sprintf("PartitionKey eq '%s' and RowKey gt '%s'", quote(store.UserPartition(tenant, user)), seqKey(after))
	top := int32(limit + 1)
	pager := s.changes.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Top: &top})
	var out []Change
	for pager.More() && len(out) <= limit {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("mirror: read changes: %w", err)
		}
		for _, raw := range page.Entities {
			if len(out) > limit {
				break
			}
			c, err := s.decodeChange(ctx, raw)
			if err != nil {
				return nil, false, err
			}
			out = append(out, c)
		}
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	// Numbers can be missing (a run leaves the rest of its block unused),
	// and so can a trimmed part of the log; only a gap tells which it is.
	if len(out) > 0 && out[0].Seq != after+1 {
		ok, err := s.cursorValid(ctx, store.UserPartition(tenant, user), after)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			return nil, false, ErrCursorExpired
		}
	}
	return out, more, nil
}

// cursorValid reports whether a reader at after can go on reading the
// log: after is the last entry it read, which is still there, or where the
// log was trimmed (0 when it never was). A cursor into the trimmed part is not; nor
// is one from an earlier log of the user, erased when they disconnected
// (the new log numbers its entries beyond anything the old one reached,
// so such a cursor names no entry of it).
func (s *Store) cursorValid(ctx context.Context, pk string, after int64) (bool, error) {
	through, err := s.trimmedThrough(ctx, pk)
	switch {
	case err != nil:
		return false, err
	case after < through:
		return false, nil
	case after == through:
		return true, nil
	}
	_, err = s.changes.GetEntity(ctx, pk, seqKey(after), nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mirror: read the reader's last change: %w", err)
	}
	return true, nil
}

// changeEntity is the stored shape of a change.
type changeEntity struct {
	RowKey string
	Set    string
	ID     string `json:"Id"`
	Op     string
	Data   *string
	Blob   string
}

func (s *Store) decodeChange(ctx context.Context, raw []byte) (Change, error) {
	var e changeEntity
	if err := unmarshal(raw, &e); err != nil {
		return Change{}, err
	}
	seq, err := strconv.ParseInt(e.RowKey, 10, 64)
	if err != nil {
		return Change{}, fmt.Errorf("mirror: change %q has no sequence number", e.RowKey)
	}
	c := Change{Seq: seq, EntitySet: e.Set, ID: e.ID, Op: e.Op}
	if e.Op == OpUpsert {
		if c.Data, err = s.data(ctx, e.Data, e.Blob); err != nil {
			return Change{}, err
		}
	}
	return c, nil
}

// data returns a row's JSON, inline or from its blob.
func (s *Store) data(ctx context.Context, inline *string, blob string) (json.RawMessage, error) {
	switch {
	case blob != "":
		return s.blobs.Get(ctx, blob)
	case inline != nil:
		return json.RawMessage(*inline), nil
	}
	return nil, fmt.Errorf("mirror: a row has neither data nor a blob")
}

// EachRecord calls fn with the id and JSON of every row of set in the
// mirror of user in tenant, in id order (for tests, tools and checks).
func (s *Store) EachRecord(ctx context.Context, tenant, user, set string, fn func(id string, data json.RawMessage) error) error {
	filter := fmt.Sprintf("PartitionKey eq '%s' and RowKey ge '%s' and RowKey lt '%s'",
		quote(store.UserPartition(tenant, user)), quote(set+"_"), quote(set+"`"))
	pager := s.records.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("mirror: read %s rows: %w", set, err)
		}
		for _, raw := range page.Entities {
			var e struct {
				RowKey string
				Data   *string
				Blob   string
			}
			if err := unmarshal(raw, &e); err != nil {
				return err
			}
			data, err := s.data(ctx, e.Data, e.Blob)
			if err != nil {
				return err
			}
			if err := fn(strings.TrimPrefix(e.RowKey, set+"_"), data); err != nil {
				return err
			}
		}
	}
	return nil
}

func unmarshal(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("mirror: decode entity: %w", err)
	}
	return nil
}

// Same reports whether the mirror of user in tenant holds row id of set
// with exactly data (so writing it again would change nothing). A missing
// row is not the same.
func (s *Store) Same(ctx context.Context, tenant, user, set, id string, data json.RawMessage) (bool, error) {
	e, ok, err := s.record(ctx, tenant, user, set, id)
	switch {
	case err != nil || !ok:
		return false, err
	case e.Blob != "":
		return e.Blob == blobName(tenant, user, data), nil
	}
	return e.Data != nil && *e.Data == string(data), nil
}

// recordEntity is what a record holds: its row inline, or its blob's name,
// and the id of the row it belongs to.
type recordEntity struct {
	Data *string
	Blob string
	Rel  string
}

// Unchanged reports which upserts of entries the user's mirror already
// holds exactly (the same row, belonging to the same row), by point reads,
// several at a time.
func (s *Store) Unchanged(ctx context.Context, tenant, user, set string, entries []Entry) (map[string]bool, error) {
	same := make([]bool, len(entries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(hasConcurrency)
	for i, e := range entries {
		if e.Deleted {
			continue
		}
		g.Go(func() error {
			rec, ok, err := s.record(gctx, tenant, user, set, e.ID)
			if err != nil || !ok || rec.Rel != e.Rel {
				return err
			}
			if rec.Blob != "" {
				same[i] = rec.Blob == blobName(tenant, user, e.Data)
			} else {
				same[i] = rec.Data != nil && *rec.Data == string(e.Data)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(entries))
	for i, e := range entries {
		if same[i] {
			out[e.ID] = true
		}
	}
	return out, nil
}

// record reads one record; false when the mirror does not hold it.
func (s *Store) record(ctx context.Context, tenant, user, set, id string) (recordEntity, bool, error) {
	resp, err := s.records.GetEntity(ctx, store.UserPartition(tenant, user), recordKey(set, id), nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return recordEntity{}, false, nil
	}
	if err != nil {
		return recordEntity{}, false, fmt.Errorf("mirror: read %s row %s: %w", set, id, err)
	}
	var e recordEntity
	if err := unmarshal(resp.Value, &e); err != nil {
		return recordEntity{}, false, err
	}
	return e, true, nil
}

// hasConcurrency bounds the point reads of one Has call in flight.
const hasConcurrency = 16

// Has reports which of ids (lower case) the user's mirror holds in set, by
// point reads, several at a time.
func (s *Store) Has(ctx context.Context, tenant, user, set string, ids []string) (map[string]bool, error) {
	pk := store.UserPartition(tenant, user)
	found := make([]bool, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(hasConcurrency)
	for i, id := range ids {
		g.Go(func() error {
			_, err := s.records.GetEntity(gctx, pk, recordKey(set, id), nil)
			var re *azcore.ResponseError
			switch {
			case errors.As(err, &re) && re.StatusCode == http.StatusNotFound:
			case err != nil:
				return fmt.Errorf("mirror: read %s row %s: %w", set, id, err)
			default:
				found[i] = true
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(ids))
	for i, id := range ids {
		out[id] = found[i]
	}
	return out, nil
}

// Record returns the row id of set in the user's mirror; false when the
// mirror does not hold it.
func (s *Store) Record(ctx context.Context, tenant, user, set, id string) (json.RawMessage, bool, error) {
	e, ok, err := s.record(ctx, tenant, user, set, id)
	if err != nil || !ok {
		return nil, false, err
	}
	data, err := s.data(ctx, e.Data, e.Blob)
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// Version returns row id of set as the user's copy held it at etag (its
// @odata.etag): the mirror's row if it is that version, else the change
// log's upsert of that version, found by a scan of the user's log for the
// row (the log holds every version the sync saw, until it is trimmed).
// False when neither holds it.
func (s *Store) Version(ctx context.Context, tenant, user, set, id, etag string) (json.RawMessage, bool, error) {
	data, ok, err := s.Record(ctx, tenant, user, set, id)
	if err != nil {
		return nil, false, err
	}
	if ok && etagOf(data) == etag {
		return data, true, nil
	}
	filter := fmt.Sprintf("PartitionKey eq '%s' and Set eq '%s' and Id eq '%s' and Op eq '%s'",
		quote(store.UserPartition(tenant, user)), quote(set), quote(id), OpUpsert)
	pager := s.changes.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("mirror: read the changes of %s row %s: %w", set, id, err)
		}
		for _, raw := range page.Entities {
			c, err := s.decodeChange(ctx, raw)
			if err != nil {
				return nil, false, err
			}
			if etagOf(c.Data) == etag {
				return c.Data, true, nil
			}
		}
	}
	return nil, false, nil
}

// etagOf is a row's @odata.etag.
func etagOf(data json.RawMessage) string {
	var v struct {
		ETag string `json:"@odata.etag"`
	}
	_ = json.Unmarshal(data, &v)
	return v.ETag
}
