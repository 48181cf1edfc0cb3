package store

import (
	"context"
	"errors"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Due is an active connection as the scheduler's reconciliation reads
// it: its keys and when its next sync is due.
type Due struct {
	TenantID, UserID string
	NextSyncAt       time.Time
}

// ListActive calls fn with the active connections, a page (at most 1000
// read) at a time, until fn returns an error. It reads the whole table (a
// filter on Status would read it all the same): only the scheduler's
// hourly reconciliation of the due index uses it (internal/syncer), never
// a scheduler run's search for the users due.
func (c *Connections) ListActive(ctx context.Context, fn func([]Due) error) error {
	sel := "PartitionKey,RowKey,Status,NextSyncAt"
	pager := c.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Select: &sel})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return mapErr(err, "list active connections")
		}
		batch := make([]Due, 0, len(page.Entities))
		for _, raw := range page.Entities {
			e, err := decode(raw)
			if err != nil {
				return mapErr(err, "decode connection")
			}
			if p := props(e.Properties); p.str("Status") == StatusActive {
				batch = append(batch, Due{TenantID: e.PartitionKey, UserID: e.RowKey, NextSyncAt: p.time("NextSyncAt")})
			}
		}
		if len(batch) == 0 {
			continue
		}
		if err := fn(batch); err != nil {
			return err
		}
	}
	return nil
}

// NextSync is when one user's next sync is due.
type NextSync struct {
	UserID string
	At     time.Time
}

// SetNextSync moves the next sync of users of tenant, merging only
// NextSyncAt (so a concurrent sign-in or token rotation loses nothing), in
// transactions of up to 100 in the tenant's partition, and returns the
// users whose connection is gone (erased), which it skips. It does not
// touch the due index: the scheduler, its one caller, files the new
// entries first.
func (c *Connections) SetNextSync(ctx context.Context, tenant string, users []NextSync) (gone []string, err error) {
	anyETag := azcore.ETagAny
	for start := 0; start < len(users); start += 100 {
		chunk := users[start:min(start+100, len(users))]
		actions := make([]aztables.TransactionAction, len(chunk))
		for i, u := range chunk {
			actions[i] = aztables.TransactionAction{ActionType: aztables.TransactionTypeUpdateMerge, IfMatch: &anyETag,
				Entity: encode(tenant, u.UserID, map[string]any{"NextSyncAt": aztables.EDMDateTime(u.At.UTC())})}
		}
		if _, err := c.table.SubmitTransaction(ctx, actions, nil); err == nil {
			continue
		}
		// One missing row fails the whole transaction: go one by one.
		for i, u := range chunk {
			_, err := c.table.UpdateEntity(ctx, actions[i].Entity, &aztables.UpdateEntityOptions{IfMatch: &anyETag, UpdateMode: aztables.UpdateModeMerge})
			switch err := mapErr(err, "set next sync of "+tenant+"/"+u.UserID); {
			case errors.Is(err, ErrNotFound):
				gone = append(gone, u.UserID)
			case err != nil:
				return gone, err
			}
		}
	}
	return gone, nil
}
