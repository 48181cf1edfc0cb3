package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/google/uuid"

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

// bareTables are a bare writer's mirror and change-log tables.
type bareTables struct{ records, changes *aztables.Client }

// newBareTables creates a pair of tables for bareWrite, deleted when the
// benchmark ends.
func newBareTables(b *testing.B, conn string) bareTables {
	b.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(conn, nil)
	if err != nil {
		b.Fatal(err)
	}
	suffix := strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	t := bareTables{svc.NewClient("barerecords" + suffix), svc.NewClient("barechanges" + suffix)}
	for _, c := range []*aztables.Client{t.records, t.changes} {
		if _, err := c.CreateTable(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if _, err := c.Delete(context.Background(), nil); err != nil {
				b.Errorf("delete a bare writer's table: %v", err)
			}
		})
	}
	return t
}

// bareWrite writes rows rows into t, as the sync writes a full read into
// a user's partition: a mirror row (Gen, Data) and a change-log entry (Set,
// Id, Op, Data) per row, in transactions of 100, bareWriters in flight,
// through the same path to Storage as the handler. Each call writes a
// partition of its own, so the tables grow as the sync's do with each
// user (Azurite's writes slow as a table grows). It returns the rate.
func bareWrite(b *testing.B, t bareTables, rows int, sample []json.RawMessage) float64 {
	b.Helper()
	ctx := context.Background()
	records, changes := t.records, t.changes
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
				// Sent again (up to twice) when it fails: its writes are
				// idempotent, and the SDK does not retry a response cut
				// off mid-body (Azurite closing an idle connection).
				var err error
				for range 3 {
					if _, err = t.table.SubmitTransaction(ctx, t.actions, nil); err == nil {
						break
					}
				}
				if err != nil {
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

// stored is what checkStored found of one user's rows.
type stored struct {
	lost, dup, wrong int
	lastSeq          int64 // the last entry of the change log
}

// checkStored reads the change log and the mirror in full and compares
// each user's with the simulator's rows (id → etag): lost counts rows of
// the simulator missing from the log or the mirror, dup changes beyond one
// per row, wrong entries with another version than the simulator's or not
// of its rows. Both tables are read by a query without a filter, in pages
// of 1,000 (scanTable): the one read Azurite answers in time linear in the
// table's size a page, its sort aside. Its point reads and filtered
// queries cost more (see docs/performance.md). It returns the time the
// two reads took.
func checkStored(b *testing.B, w *testworld.World, users []testworld.User, set string, etags map[string]string) ([]stored, time.Duration) {
	b.Helper()
	user := map[string]int{}
	for i, u := range users {
		user[store.UserPartition(u.TenantID, u.OID)] = i
	}
	of := func(table, pk string) int {
		i, ok := user[pk]
		if !ok {
			b.Fatalf("the %s table holds partition %s, of no user of the benchmark", table, pk)
		}
		return i
	}
	res := make([]stored, len(users))
	logged := make([]map[string]int, len(users))
	for i := range logged {
		logged[i] = make(map[string]int, len(etags))
	}
	took := scanTable(b, w, mirror.ChangesTable, func(pk, rk string, raw []byte) {
		i := of(mirror.ChangesTable, pk)
		var e struct{ Set, Id, Op, Data string }
		if err := json.Unmarshal(raw, &e); err != nil {
			b.Fatal(err)
		}
		seq, err := strconv.ParseInt(rk, 10, 64)
		if err != nil {
			b.Fatalf("change-log entry %q: %v", rk, err)
		}
		res[i].lastSeq = max(res[i].lastSeq, seq)
		if e.Set != set || e.Op != "upsert" {
			res[i].wrong++
			return
		}
		id, etag := rowVersion(b, []byte(e.Data))
		if id != e.Id || etags[id] != etag {
			res[i].wrong++
		}
		logged[i][id]++
	})
	mirrored := make([]int, len(users))
	took += scanTable(b, w, mirror.RecordsTable, func(pk, rk string, raw []byte) {
		i := of(mirror.RecordsTable, pk)
		var e struct{ Data string }
		if err := json.Unmarshal(raw, &e); err != nil {
			b.Fatal(err)
		}
		id, etag := rowVersion(b, []byte(e.Data))
		if rk != set+"_"+id || etags[id] != etag {
			res[i].wrong++
			return
		}
		mirrored[i]++
	})
	for i := range users {
		res[i].lost = len(etags) - mirrored[i]
		for id := range etags {
			switch n := logged[i][id]; {
			case n == 0:
				res[i].lost++
			case n > 1:
				res[i].dup += n - 1
			}
		}
	}
	return res, took
}

// scanTable reads every entity of table (no filter, pages of 1,000, the
// continuation Azurite returns) and calls each with its keys. Azurite
// answers such a page by one pass over the table and a sort of the
// entities after the continuation, which are already in order when they
// were inserted in order (as the change log's and each user's mirror rows
// are): linear in the table a page. It returns the time it took.
func scanTable(b *testing.B, w *testworld.World, table string, each func(pk, rk string, raw []byte)) time.Duration {
	b.Helper()
	start, n := time.Now(), 0
	top := int32(1000)
	pager := w.DB.Table(table).NewListEntitiesPager(&aztables.ListEntitiesOptions{Top: &top})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			b.Fatalf("read the %s table: %v", table, err)
		}
		for _, raw := range page.Entities {
			var k struct{ PartitionKey, RowKey string }
			if err := json.Unmarshal(raw, &k); err != nil {
				b.Fatal(err)
			}
			each(k.PartitionKey, k.RowKey, raw)
			n++
		}
	}
	took := time.Since(start)
	b.Logf("%s the %s table read in full: %d entities in %s", time.Now().Format(time.TimeOnly), table, n, took.Round(time.Millisecond))
	return took
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
