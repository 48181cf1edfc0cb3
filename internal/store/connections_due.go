package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Due is a connection due for a sync: the keys the scheduler needs.
type Due struct {
	TenantID, UserID string
}

// ListDue calls fn with the active connections whose next sync is at or
// before now, a page (at most 1000) at a time, until fn returns false or
// an error, or max connections were passed.
func (c *Connections) ListDue(ctx context.Context, now time.Time, max int, fn func([]Due) (bool, error)) error {
	filter := fmt.Sprintf("Status eq '%s' and NextSyncAt le datetime'%s'", StatusActive, now.UTC().Format(time.RFC3339))
	sel := "PartitionKey,RowKey"
	top := int32(min(max, 1000))
	pager := c.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: &sel, Top: &top})
	seen := 0
	for pager.More() && seen < max {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return mapErr(err, "list connections due")
		}
		batch := make([]Due, 0, len(page.Entities))
		for _, raw := range page.Entities {
			e, err := decode(raw)
			if err != nil {
				return mapErr(err, "decode connection")
			}
			if seen == max {
				break
			}
			batch = append(batch, Due{TenantID: e.PartitionKey, UserID: e.RowKey})
			seen++
		}
		if len(batch) == 0 {
			continue
		}
		more, err := fn(batch)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// SetNextSync moves the next sync of the users of tenant to at, merging
// only NextSyncAt (so a concurrent sign-in or token rotation loses
// nothing), in transactions of up to 100 in the tenant's partition. A
// connection deleted meanwhile is skipped.
func (c *Connections) SetNextSync(ctx context.Context, tenant string, users []string, at time.Time) error {
	anyETag := azcore.ETagAny
	for start := 0; start < len(users); start += 100 {
		chunk := users[start:min(start+100, len(users))]
		actions := make([]aztables.TransactionAction, len(chunk))
		for i, u := range chunk {
			actions[i] = aztables.TransactionAction{ActionType: aztables.TransactionTypeUpdateMerge, IfMatch: &anyETag,
				Entity: encode(tenant, u, map[string]any{"NextSyncAt": aztables.EDMDateTime(at.UTC())})}
		}
		if _, err := c.table.SubmitTransaction(ctx, actions, nil); err == nil {
			continue
		}
		// One missing row fails the whole transaction: go one by one.
		for i, u := range chunk {
			_, err := c.table.UpdateEntity(ctx, actions[i].Entity, &aztables.UpdateEntityOptions{IfMatch: &anyETag, UpdateMode: aztables.UpdateModeMerge})
			if err := mapErr(err, "set next sync of "+tenant+"/"+u); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
	return nil
}
