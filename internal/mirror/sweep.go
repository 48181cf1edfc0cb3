package mirror

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/pitcher/connector/internal/store"
)

// Mark sets the generation of the mirror's rows ids of set to gen, without
// touching their data: a full read that fetched only ids (the reconcile of
// a table without change tracking) marks what still exists. Ids the mirror
// does not hold are skipped.
func (s *Store) Mark(ctx context.Context, tenant, user, set string, ids []string, gen int64) error {
	pk := store.UserPartition(tenant, user)
	b := newBatcher(s.records, "records")
	for _, id := range ids {
		if err := b.add(ctx, aztables.TransactionTypeUpdateMerge, pk, recordKey(set, id), map[string]any{"Gen": aztables.EDMInt64(gen)}); err != nil {
			return err
		}
	}
	return b.flush(ctx)
}

// Stale calls fn with the ids of the rows of set whose generation is below
// gen (rows a full read of generation gen did not see, so deleted in
// Dynamics), at most 1000 at a time, in RowKey order. fn may delete them.
func (s *Store) Stale(ctx context.Context, tenant, user, set string, gen int64, fn func(ids []string) error) error {
	return s.eachID(ctx, tenant, user, set, fmt.Sprintf("Gen lt %dL", gen), fn)
}

// relatedPerQuery is how many rows one query of Related names: a Table
// filter may hold 15 comparisons, 3 of which select the user's set.
const relatedPerQuery = 12

// Related calls fn with the ids of the rows of set that belong to one of
// parents (their Rel), a page at a time.
func (s *Store) Related(ctx context.Context, tenant, user, set string, parents []string, fn func(ids []string) error) error {
	for chunk := range slices.Chunk(parents, relatedPerQuery) {
		terms := make([]string, len(chunk))
		for i, p := range chunk {
			terms[i] = "Rel eq '" + quote(p) + "'"
		}
		if err := s.eachID(ctx, tenant, user, set, "("+strings.Join(terms, " or ")+")", fn); err != nil {
			return err
		}
	}
	return nil
}

// eachID calls fn with the ids of the rows of set in the user's mirror
// that cond (a Table filter on their properties) selects, a page at a time.
func (s *Store) eachID(ctx context.Context, tenant, user, set, cond string, fn func(ids []string) error) error {
	pk := store.UserPartition(tenant, user)
	filter := fmt.Sprintf("PartitionKey eq '%s' and RowKey ge '%s' and RowKey lt '%s' and %s",
		quote(pk), quote(set+"_"), quote(set+"`"), cond)
	sel := "RowKey"
	pager := s.records.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: &sel})
	prefix := set + "_"
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("mirror: list %s rows (%s): %w", set, cond, err)
		}
		ids := make([]string, 0, len(page.Entities))
		for _, raw := range page.Entities {
			var e aztables.Entity
			if err := unmarshal(raw, &e); err != nil {
				return err
			}
			ids = append(ids, strings.TrimPrefix(e.RowKey, prefix))
		}
		if len(ids) > 0 {
			if err := fn(ids); err != nil {
				return err
			}
		}
	}
	return nil
}

// quote escapes a string for an OData literal.
func quote(s string) string { return strings.ReplaceAll(s, "'", "''") }
