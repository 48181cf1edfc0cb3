package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"golang.org/x/sync/errgroup"

	"github.com/pitcher/connector/internal/store"
)

// Table transaction limits: 100 operations, and a 4 MiB request; entity
// bodies are kept below 3 MiB per transaction to leave room for the
// envelope.
const (
	maxOps   = 100
	maxBytes = 3 << 20
)

// Apply writes entries of set for user of tenant: each upsert replaces the
// row in the mirror (marked with generation gen), each deletion removes
// it, and every entry is appended to the change log with the sequence
// numbers firstSeq, firstSeq+1, … in order (the caller reserves them).
// The mirror and the log are written in transactions of up to 100
// operations, the log's first and in sequence order, so a reader never
// sees a later entry before an earlier one of the same call, and the
// mirror never holds a row whose change is not logged. On error some
// entries may be written: applying them again is harmless.
func (s *Store) Apply(ctx context.Context, tenant, user, set string, entries []Entry, gen, firstSeq int64) error {
	wait, err := s.Begin(ctx, tenant, user, set, entries, gen, firstSeq)
	if err != nil {
		return err
	}
	return wait()
}

// Begin is Apply that returns once the entries' changes are in the log:
// the mirror's transactions go on until wait, which returns their error.
// Call wait before reading the mirror, and before anything that says
// these entries are written (a checkpoint); until then, ctx must stay
// alive. On error nothing goes on.
func (s *Store) Begin(ctx context.Context, tenant, user, set string, entries []Entry, gen, firstSeq int64) (wait func() error, err error) {
	pk := store.UserPartition(tenant, user)
	recs, logs := newBatcher(s.records, "records"), newBatcher(s.changes, "changes")
	for i, e := range entries {
		if e.ID == "" {
			return nil, fmt.Errorf("mirror: %s entry %d has no id", set, i)
		}
		rk := recordKey(set, e.ID)
		change := map[string]any{"Set": set, "Id": e.ID, "Op": OpUpsert}
		if e.Deleted {
			change["Op"] = OpDelete
			if err := recs.add(ctx, aztables.TransactionTypeDelete, pk, rk, nil); err != nil {
				return nil, err
			}
		} else {
			rec := map[string]any{"Gen": aztables.EDMInt64(gen)}
			if e.Rel != "" {
				rec["Rel"] = e.Rel
			}
			if err := s.putData(ctx, tenant, user, e.Data, rec, change); err != nil {
				return nil, err
			}
			if err := recs.add(ctx, aztables.TransactionTypeInsertReplace, pk, rk, rec); err != nil {
				return nil, err
			}
		}
		if err := logs.add(ctx, aztables.TransactionTypeInsertReplace, pk, seqKey(firstSeq+int64(i)), change); err != nil {
			return nil, err
		}
	}
	return writeLogged(ctx, logs, recs)
}

// mirrorInFlight is how many mirror transactions writeLogged keeps in
// flight beside the log's one.
const mirrorInFlight = 2

// writeLogged submits the transactions of logs, then of recs, both built
// from the same entries in the same order (one log operation per entry),
// and returns once the log's are written, with a wait for the mirror's.
//
// The log's transactions reach storage one after another, each once the
// one before it succeeded: a reader of the log never sees an entry before
// an earlier one. They are encoded all at once meanwhile (store.After). A
// mirror transaction goes once the log transactions holding its rows'
// changes succeeded: the sync decides what to write again from the mirror
// (is this row already there? unchanged?), so a row must not reach the
// mirror before its change reached the log. A failure in between leaves a
// logged change whose mirror write the retry repeats (the app may see it
// twice, never not at all). So both tables are written at once; mirror
// transactions go mirrorInFlight at a time, or in order, one at a time,
// when one entry's row is in two of them (the later write must win).
func writeLogged(ctx context.Context, logs, recs *batcher) (wait func() error, err error) {
	logs.close()
	recs.close()
	workers := mirrorInFlight
	if recs.repeats {
		workers = 1
	}
	ready := make(chan []aztables.TransactionAction, len(recs.full))
	mirrored, mctx := errgroup.WithContext(ctx)
	for range workers {
		mirrored.Go(func() error {
			for tx := range ready {
				if err := recs.submit(mctx, tx); err != nil {
					return err
				}
			}
			return nil
		})
	}
	turns := make([]*store.Turn, len(logs.full))
	prev := store.Finished()
	for i, tx := range logs.full {
		turns[i] = store.NewTurn()
		tctx, held := store.After(mctx, prev)
		go func(t *store.Turn) {
			err := logs.submit(tctx, tx)
			if err == nil && !held() {
				err = errors.New("mirror: the Table client has no turn policy (store.ClientOptions): the change log may be out of order")
			}
			t.Finish(err)
		}(turns[i])
		prev = turns[i]
	}
	next := 0
	for i, t := range turns {
		if err = t.Wait(); err != nil {
			for _, later := range turns[i+1:] {
				_ = later.Wait() // not sent: ErrTurnFailed
			}
			break
		}
		for ; next < len(recs.full) && recs.ends[next] <= logs.ends[i]; next++ {
			ready <- recs.full[next]
		}
	}
	close(ready)
	if err != nil {
		return nil, errors.Join(err, mirrored.Wait())
	}
	return mirrored.Wait, nil
}

// putData sets the row's data on the entities: inline when it fits a
// string property, else in a blob that both reference.
func (s *Store) putData(ctx context.Context, tenant, user string, data []byte, entities ...map[string]any) error {
	if fitsInline(data) {
		for _, e := range entities {
			e["Data"] = string(data)
		}
		return nil
	}
	name := blobName(tenant, user, data)
	if err := s.blobs.Put(ctx, name, data); err != nil {
		return err
	}
	for _, e := range entities {
		e["Blob"] = name
	}
	return nil
}

// batcher groups operations on one table into transactions, submitted
// in order by flush.
type batcher struct {
	table   *aztables.Client
	name    string
	full    [][]aztables.TransactionAction // closed transactions, not sent yet
	ends    []int                          // ends[i]: the operations queued up to the end of full[i]
	actions []aztables.TransactionAction   // the open one
	keys    map[string]bool                // the open transaction's
	bytes   int
	added   int
	// seen are the row keys of every operation queued; repeats is true
	// when one of them was queued twice.
	seen    map[string]bool
	repeats bool
}

func newBatcher(t *aztables.Client, name string) *batcher {
	return &batcher{table: t, name: name, keys: map[string]bool{}, seen: map[string]bool{}}
}

// add queues one operation, closing the open transaction first when it
// is full or already holds rk (a transaction may touch an entity once).
func (b *batcher) add(_ context.Context, op aztables.TransactionType, pk, rk string, p map[string]any) error {
	body, err := aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: pk, RowKey: rk}, Properties: p}.MarshalJSON()
	if err != nil {
		return fmt.Errorf("mirror: encode %s entity: %w", b.name, err)
	}
	if b.seen[rk] {
		b.repeats = true
	}
	b.seen[rk] = true
	if len(b.actions) == maxOps || b.bytes+len(body) > maxBytes || b.keys[rk] {
		b.close()
	}
	a := aztables.TransactionAction{ActionType: op, Entity: body}
	if op == aztables.TransactionTypeUpdateMerge {
		a.IfMatch = &anyETag // update only: never create a row without data
	}
	b.actions = append(b.actions, a)
	b.keys[rk] = true
	b.bytes += len(body)
	b.added++
	return nil
}

var anyETag = azcore.ETagAny

// close closes the open transaction.
func (b *batcher) close() {
	if len(b.actions) == 0 {
		return
	}
	b.full = append(b.full, b.actions)
	b.ends = append(b.ends, b.added)
	b.actions, b.bytes, b.keys = nil, 0, map[string]bool{}
}

// flush submits the queued transactions in order, one at a time.
func (b *batcher) flush(ctx context.Context) error {
	b.close()
	groups := b.full
	*b = *newBatcher(b.table, b.name)
	for _, g := range groups {
		if err := b.submit(ctx, g); err != nil {
			return err
		}
	}
	return nil
}

// submit sends one transaction. A transaction that deletes or updates an
// entity that is not there fails whole (a tombstone of a row the mirror
// never had); it is then submitted again without those operations, which
// are made one by one, ignoring the missing entities.
func (b *batcher) submit(ctx context.Context, actions []aztables.TransactionAction) error {
	_, err := b.table.SubmitTransaction(ctx, actions, nil)
	if err == nil {
		return nil
	}
	var keep, single []aztables.TransactionAction
	for _, a := range actions {
		if a.ActionType == aztables.TransactionTypeDelete || a.ActionType == aztables.TransactionTypeUpdateMerge {
			single = append(single, a)
		} else {
			keep = append(keep, a)
		}
	}
	if len(single) == 0 {
		return fmt.Errorf("mirror: write %d %s entities: %w", len(actions), b.name, err)
	}
	if len(keep) > 0 {
		if _, err := b.table.SubmitTransaction(ctx, keep, nil); err != nil {
			return fmt.Errorf("mirror: write %d %s entities: %w", len(keep), b.name, err)
		}
	}
	for _, a := range single {
		var e aztables.Entity
		if err := json.Unmarshal(a.Entity, &e); err != nil {
			return fmt.Errorf("mirror: decode %s entity: %w", b.name, err)
		}
		var err error
		if a.ActionType == aztables.TransactionTypeDelete {
			_, err = b.table.DeleteEntity(ctx, e.PartitionKey, e.RowKey, nil)
		} else {
			_, err = b.table.UpdateEntity(ctx, a.Entity, &aztables.UpdateEntityOptions{IfMatch: &anyETag, UpdateMode: aztables.UpdateModeMerge})
		}
		var re *azcore.ResponseError
		if err != nil && !(errors.As(err, &re) && re.StatusCode == http.StatusNotFound) {
			return fmt.Errorf("mirror: %s %s entity %s: %w", a.ActionType, b.name, e.RowKey, err)
		}
	}
	return nil
}
