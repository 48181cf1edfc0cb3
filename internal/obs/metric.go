package obs

import (
	"context"
	"log/slog"
)

// The counters the connector logs (docs/operations.md charts them). Each
// is a log line with msg "metric", the counter's name in "metric" and the
// amount in "value", plus the attributes that say what was counted.
const (
	// MetricRowsSynced: rows written into a user's mirror by one sync of an
	// entity set (upserts and deletions); attributes entitySet, upserted,
	// deleted, full.
	MetricRowsSynced = "rows_synced"
	// MetricUploads: one upload reaching a state; attribute outcome
	// (accepted, done, throttled, parked, failed, retrying, dead_lettered).
	MetricUploads = "uploads"
	// MetricThrottleWaits: one 429 answer from Dataverse; attribute
	// retryAfterMs (how long Dataverse asked the connector to wait).
	MetricThrottleWaits = "throttle_waits"
	// MetricTokenRefreshes: one access token obtained with a user's refresh
	// token; attribute resource.
	MetricTokenRefreshes = "token_refreshes"
	// MetricReauthorizations: one connection marked reauth_required;
	// attribute reason (Entra's error and AADSTS code).
	MetricReauthorizations = "reauthorizations"
)

// Count logs value of counter name at Info, with attrs, on logger (which
// carries the tenant and user, or ctx their scope).
func Count(ctx context.Context, logger *slog.Logger, name string, value int64, attrs ...slog.Attr) {
	logger.LogAttrs(ctx, slog.LevelInfo, "metric", append([]slog.Attr{slog.String("metric", name), slog.Int64("value", value)}, attrs...)...)
}
