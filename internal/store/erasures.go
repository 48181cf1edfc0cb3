package store

import (
	"context"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// ErasuresTable is the audit of erasures (docs/privacy.md): one row per
// completed erasure, with pseudonyms instead of ids and counts instead of
// data. PartitionKey = the month it completed ("2026-12"), RowKey = when it
// was requested and of whom, so a retried completion writes the same row.
const ErasuresTable = "erasures"

// Erasure kinds.
const (
	ErasureDisconnect = "disconnect" // the user disconnected (DELETE /api/connection)
	ErasureOffboard   = "offboard"   // an operator offboarded the tenant
	ErasureRetention  = "retention"  // the retention run erased an inactive connection (By "retention")
	ErasureOperator   = "operator"   // an operator erased one user (connectorctl connections erase, a lifecycle message)
	ErasureUploads    = "retention-uploads"
)

// ErasureRecord is one audit row.
type ErasureRecord struct {
	Kind string
	// Tenant is the tenant's pseudonym; Subject the user's ("" when the
	// record is about a whole tenant or a retention run).
	Tenant, Subject string
	// By is who asked: "user:<pseudonym>", "operator" or "retention".
	By                       string
	RequestedAt, CompletedAt time.Time
	// Counts is JSON: what was deleted, per table and container.
	Counts string
}

// Erasures is the audit table.
type Erasures struct{ table *aztables.Client }

// NewErasures returns the audit table of db.
func NewErasures(db *DB) *Erasures { return &Erasures{table: db.Table(ErasuresTable)} }

// Record writes r (again, harmlessly, when a completion is retried).
func (e *Erasures) Record(ctx context.Context, r ErasureRecord) error {
	rk := r.RequestedAt.UTC().Format("20060102T150405.000000000Z") + "_" + r.Kind + "_" + r.Tenant + "_" + r.Subject
	p := map[string]any{"Kind": r.Kind, "Tenant": r.Tenant, "Subject": r.Subject, "By": r.By, "Counts": r.Counts}
	edmTime(p, "RequestedAt", r.RequestedAt)
	edmTime(p, "CompletedAt", r.CompletedAt)
	_, err := e.table.UpsertEntity(ctx, encode(r.CompletedAt.UTC().Format("2006-01"), rk, p), &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
	return mapErr(err, "record an erasure")
}

// List returns the audit rows completed at or after since, oldest first.
func (e *Erasures) List(ctx context.Context, since time.Time) ([]ErasureRecord, error) {
	filter := "PartitionKey ge " + quote(since.UTC().Format("2006-01")) + " and PartitionKey le '9999-12'"
	var out []ErasureRecord
	err := each(ctx, e.table, filter, "list erasures", func(raw []byte) error {
		ent, err := decode(raw)
		if err != nil {
			return err
		}
		p := props(ent.Properties)
		r := ErasureRecord{Kind: p.str("Kind"), Tenant: p.str("Tenant"), Subject: p.str("Subject"), By: p.str("By"),
			RequestedAt: p.time("RequestedAt"), CompletedAt: p.time("CompletedAt"), Counts: p.str("Counts")}
		if !r.CompletedAt.Before(since) {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}
