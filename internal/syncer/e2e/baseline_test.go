package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/testworld"
)

// The raw limits a sync is measured against: how fast a bare client reads
// the rows from the Dataverse simulator, and how fast a bare client writes
// them into Table Storage, in the same run, against the same services. The
// sync can go no faster than the slower of the two.

// bareWriters is how many transactions the bare writer keeps in flight.
// Azurite is one Node process: 1 in flight is slower, 2, 4 and 8 are alike
// (docs/performance.md, "End to end: how make bench measures").
const bareWriters = 4

// simRows is what the bare reader learnt of the simulator's rows: each
// row's version by id, and the first page's rows (a sample of the data for
// bareWrite).
type simRows struct {
	etags  map[string]string
	sample []json.RawMessage
}

// bareRead reads set in full from the environment as the sync does (the
// same columns, change tracking, pages of 1,000), with a plain HTTP client
// that only splits each page into rows, and returns the rows it read and
// the rate (timed without learning the rows' versions, done after).
func bareRead(b *testing.B, w *testworld.World, upn, set, query string) (rows int, perSecond float64, sim simRows) {
	b.Helper()
	token := w.DataverseToken(b, upn)
	next := w.DataverseURL + "/api/data/v9.2/" + set + "?" + query
	client := &http.Client{}
	sim.etags = map[string]string{}
	var took time.Duration
	for next != "" {
		start := time.Now()
		req, err := http.NewRequest(http.MethodGet, next, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Prefer", "odata.track-changes,odata.maxpagesize=1000")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"@odata.nextLink"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("bare read of %s: %d %v", set, resp.StatusCode, err)
		}
		took += time.Since(start)
		rows += len(page.Value)
		next = page.NextLink
		for _, raw := range page.Value {
			id, etag := rowVersion(b, raw)
			sim.etags[id] = etag
		}
		if sim.sample == nil {
			sim.sample = page.Value
		}
	}
	return rows, float64(rows) / took.Seconds(), sim
}

// rowVersion is the id and @odata.etag of an account as Dataverse sends it.
func rowVersion(b *testing.B, raw []byte) (id, etag string) {
	var r struct {
		ID   string `json:"accountid"`
		ETag string `json:"@odata.etag"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.ID == "" || r.ETag == "" {
		b.Fatalf("an account without id or etag (%v): %.200s", err, raw)
	}
	return strings.ToLower(r.ID), r.ETag
}

// bareWrite writes rows rows into two tables of their own, as the sync
// writes a full read: a mirror row (Gen, Data) and a change-log entry (Set,
// Id, Op, Data) per row, in transactions of 100, bareWriters in flight,
// through the same path to Storage as the handler. It returns the rate and
// deletes the tables.
func bareWrite(b *testing.B, conn string, rows int, sample []json.RawMessage) float64 {
	b.Helper()
	ctx := context.Background()
	svc, err := aztables.NewServiceClientFromConnectionString(conn, nil)
	if err != nil {
		b.Fatal(err)
	}
	suffix := strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	records, changes := svc.NewClient("barerecords"+suffix), svc.NewClient("barechanges"+suffix)
	for _, t := range []*aztables.Client{records, changes} {
		if _, err := t.CreateTable(ctx, nil); err != nil {
			b.Fatal(err)
		}
		defer func() {
			if _, err := t.Delete(context.Background(), nil); err != nil {
				b.Errorf("delete a bare writer's table: %v", err)
			}
		}()
	}
	pk := store.UserPartition(uuid.NewString(), uuid.NewString())
	type tx struct {
		table   *aztables.Client
		actions []aztables.TransactionAction
	}
	txs := make(chan tx, bareWriters)
	errs := make(chan error, bareWriters)
	var wg sync.WaitGroup
	for range bareWriters {
		wg.Go(func() {
			for t := range txs {
				if _, err := t.table.SubmitTransaction(ctx, t.actions, nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	start := time.Now()
	var recs, logs []aztables.TransactionAction
	for i := range rows {
		data := string(sample[i%len(sample)])
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		rec, _ := json.Marshal(map[string]string{"PartitionKey": pk, "RowKey": "accounts_" + id, "Gen@odata.type": "Edm.Int64", "Gen": "1", "Data": data})
		log, _ := json.Marshal(map[string]string{"PartitionKey": pk, "RowKey": fmt.Sprintf("%020d", i+1), "Set": "accounts", "Id": id, "Op": "upsert", "Data": data})
		recs = append(recs, aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: rec})
		logs = append(logs, aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: log})
		if len(recs) == 100 || i == rows-1 {
			select {
			case txs <- tx{changes, logs}:
			case err := <-errs:
				b.Fatalf("bare write: %v", err)
			}
			txs <- tx{records, recs}
			recs, logs = nil, nil
		}
	}
	close(txs)
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		b.Fatalf("bare write: %v", err)
	default:
	}
	return float64(rows) / elapsed.Seconds()
}

// selectQuery is the query string of a read of columns.
func selectQuery(columns ...string) string {
	return "$select=" + url.QueryEscape(strings.Join(columns, ","))
}

// stored is what checkStored found.
type stored struct {
	lost, dup, wrong int
	lastSeq          int64 // the last entry of the change log
}

// checkStored reads u's change log and mirror of set by point reads (which
// Azurite answers by index, so the check is linear at any size) and
// compares them with the simulator's rows (id → etag): every change-log
// number the user's lease has given out (the gaps are numbers a run left
// unused), and every row's mirror entity. lost counts rows of the
// simulator missing from the log or the mirror, dup changes beyond one per
// row, wrong entries with another version than the simulator's or not of
// its rows. The mirror never holds a row whose change is not logged, so
// a row the simulator lacks shows in the log.
func checkStored(b *testing.B, w *testworld.World, u testworld.User, set string, etags map[string]string) stored {
	b.Helper()
	ctx := context.Background()
	lease, err := store.NewSyncStates(w.DB).Lease(ctx, u.TenantID, u.OID)
	if err != nil {
		b.Fatal(err)
	}
	pk := store.UserPartition(u.TenantID, u.OID)
	changes := w.DB.Table(mirror.ChangesTable)
	first := firstSeq(b, changes, pk) // a log's numbers start beyond any earlier log's of the user
	logged := map[string]int{}
	var res stored
	var mu sync.Mutex
	pointReads(b, changes, pk, int(lease.NextSeq-first), func(i int) string { return fmt.Sprintf("%020d", first+int64(i)) },
		func(i int, raw []byte) {
			var e struct{ Set, Id, Op, Data string }
			if err := json.Unmarshal(raw, &e); err != nil {
				b.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			res.lastSeq = max(res.lastSeq, first+int64(i))
			if e.Set != set || e.Op != "upsert" {
				res.wrong++
				return
			}
			id, etag := rowVersion(b, []byte(e.Data))
			if id != e.Id || etags[id] != etag {
				res.wrong++
			}
			logged[id]++
		})
	b.Logf("%s change log of %s checked: %d rows logged, %d entries not of the simulator's rows or of another version",
		time.Now().Format(time.TimeOnly), u.UPN, len(logged), res.wrong)
	ids := slices.Collect(maps.Keys(etags))
	mirrored := 0
	pointReads(b, w.DB.Table(mirror.RecordsTable), pk, len(ids), func(i int) string { return set + "_" + ids[i] },
		func(i int, raw []byte) {
			var e struct{ Data string }
			if err := json.Unmarshal(raw, &e); err != nil {
				b.Fatal(err)
			}
			id, etag := rowVersion(b, []byte(e.Data))
			mu.Lock()
			defer mu.Unlock()
			mirrored++
			if id != ids[i] || etags[id] != etag {
				res.wrong++
			}
		})
	res.lost = len(ids) - mirrored
	for id := range etags {
		switch n := logged[id]; {
		case n == 0:
			res.lost++
		case n > 1:
			res.dup += n - 1
		}
	}
	return res
}

// firstSeq is the number of the first entry of the change log in
// partition pk (one query: Azurite reads the partition once).
func firstSeq(b *testing.B, t *aztables.Client, pk string) int64 {
	b.Helper()
	filter, top := fmt.Sprintf("PartitionKey eq '%s'", pk), int32(1)
	page, err := t.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Top: &top}).NextPage(context.Background())
	if err != nil || len(page.Entities) == 0 {
		b.Fatalf("the change log of %s is empty (%v)", pk, err)
	}
	var e struct{ RowKey string }
	if err := json.Unmarshal(page.Entities[0], &e); err != nil {
		b.Fatal(err)
	}
	seq, err := strconv.ParseInt(e.RowKey, 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return seq
}

// pointReads reads the entities of partition pk whose row keys key(0) …
// key(n-1) name, 16 at a time, and calls found with each one there.
func pointReads(b *testing.B, t *aztables.Client, pk string, n int, key func(int) string, found func(i int, raw []byte)) {
	b.Helper()
	var next atomic.Int64
	g, ctx := errgroup.WithContext(context.Background())
	for range 16 {
		g.Go(func() error {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				resp, err := t.GetEntity(ctx, pk, key(i), nil)
				var re *azcore.ResponseError
				if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
					continue
				}
				if err != nil {
					return err
				}
				found(i, resp.Value)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("point reads: %v", err)
	}
}

// bareChanges reads u's change log as the Changes API does (the same
// partition query, 1,000 entries a call), without the connector, and
// returns the milliseconds it took; it fails unless it read want entries.
func bareChanges(b *testing.B, w *testworld.World, u testworld.User, want int) float64 {
	b.Helper()
	t := w.DB.Table(mirror.ChangesTable)
	pk := store.UserPartition(u.TenantID, u.OID)
	after, read := fmt.Sprintf("%020d", 0), 0
	top := int32(1001)
	start := time.Now()
	for {
		filter := fmt.Sprintf("PartitionKey eq '%s' and RowKey gt '%s'", pk, after)
		pager := t.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Top: &top})
		var keys []string
		for pager.More() && len(keys) <= 1000 {
			page, err := pager.NextPage(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			for _, raw := range page.Entities {
				var e struct{ RowKey string }
				if err := json.Unmarshal(raw, &e); err != nil {
					b.Fatal(err)
				}
				keys = append(keys, e.RowKey)
			}
		}
		more := len(keys) > 1000
		if more {
			keys = keys[:1000]
		}
		read += len(keys)
		if !more {
			break
		}
		after = keys[len(keys)-1]
	}
	if read != want {
		b.Fatalf("the bare reader of the change log read %d entries, want %d", read, want)
	}
	return float64(time.Since(start).Milliseconds())
}
