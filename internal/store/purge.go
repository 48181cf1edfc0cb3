package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"golang.org/x/sync/errgroup"
)

// Purge deletes every entity of table (a name without the prefix) that
// filter selects and returns how many it deleted. It reads keys only, a
// page at a time, and deletes each page's entities in transactions of up
// to 100 per partition, so its memory does not grow with the data. An
// entity deleted meanwhile by someone else is not an error. Filters are
// OData expressions; PartitionFilter and PrefixFilter build the usual ones.
func (db *DB) Purge(ctx context.Context, table, filter string) (int64, error) {
	t := db.Table(table)
	sel := "PartitionKey,RowKey"
	pager := t.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: &sel})
	var deleted atomic.Int64
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return deleted.Load(), mapErr(err, "list "+table+" to delete")
		}
		var batches [][]aztables.TransactionAction
		var batch []aztables.TransactionAction
		pk := ""
		for _, raw := range page.Entities {
			var e aztables.Entity
			if err := json.Unmarshal(raw, &e); err != nil {
				return deleted.Load(), fmt.Errorf("store: decode a key of %s: %w", table, err)
			}
			if (e.PartitionKey != pk || len(batch) == 100) && len(batch) > 0 {
				batches, batch = append(batches, batch), nil
			}
			pk = e.PartitionKey
			batch = append(batch, aztables.TransactionAction{ActionType: aztables.TransactionTypeDelete, Entity: encode(e.PartitionKey, e.RowKey, nil)})
		}
		if len(batch) > 0 {
			batches = append(batches, batch)
		}
		// A page's transactions go out purgeInFlight at a time; the next
		// page is listed once they are done, so listing never races them.
		// When ctx ends (or one fails), no new one starts, and those in
		// flight are seen to their end, so every deletion made is counted.
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(purgeInFlight)
		for _, b := range batches {
			if gctx.Err() != nil {
				break
			}
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				tctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), time.Minute)
				defer cancel()
				n, err := deleteAll(tctx, t, b)
				deleted.Add(n)
				if err != nil {
					return fmt.Errorf("store: delete from %s: %w", table, err)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return deleted.Load(), err
		}
		if err := ctx.Err(); err != nil {
			return deleted.Load(), err
		}
	}
	return deleted.Load(), nil
}

// purgeInFlight is how many delete transactions Purge keeps in flight.
const purgeInFlight = 4

// deleteAll deletes the entities of one partition in one transaction; if
// that fails (one of them is gone already, which fails the whole
// transaction), one by one, ignoring the missing ones.
func deleteAll(ctx context.Context, t *aztables.Client, actions []aztables.TransactionAction) (int64, error) {
	if _, err := t.SubmitTransaction(ctx, actions, nil); err == nil {
		return int64(len(actions)), nil
	}
	var n int64
	for _, a := range actions {
		var e aztables.Entity
		if err := json.Unmarshal(a.Entity, &e); err != nil {
			return n, err
		}
		_, err := t.DeleteEntity(ctx, e.PartitionKey, e.RowKey, nil)
		switch err = mapErr(err, "delete "+e.RowKey); {
		case err == nil:
			n++
		case !errors.Is(err, ErrNotFound):
			return n, err
		}
	}
	return n, nil
}

// PartitionFilter selects the entities of partition pk.
func PartitionFilter(pk string) string { return "PartitionKey eq " + quote(pk) }

// PrefixFilter selects the entities whose PartitionKey starts with prefix
// (a key range, which Table Storage serves without reading other
// partitions).
func PrefixFilter(prefix string) string {
	end := prefix[:len(prefix)-1] + string(rune(prefix[len(prefix)-1]+1))
	return "PartitionKey ge " + quote(prefix) + " and PartitionKey lt " + quote(end)
}

// TenantPrefix is the start of the PartitionKey of every per-user
// partition of tenant (UserPartition): the tenant id and "_". Tenant ids
// are GUIDs of one length, so one tenant's prefix never matches another's.
func TenantPrefix(tenant string) string { return tenant + "_" }
