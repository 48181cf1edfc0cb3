package lifecycle_test

import (
	"testing"

	"github.com/google/uuid"
)

// BenchmarkEraseUser10k erases a user whose mirror holds 10,000 rows (and
// so 10,000 change-log entries), with a finished sync's state and a few
// uploads, in one pass against Azurite: what a disconnect costs when it
// finishes within its request.
//
//	go test -run '^$' -bench EraseUser10k -benchtime 3x ./internal/lifecycle/
func BenchmarkEraseUser10k(b *testing.B) {
	w := newWorld(b)
	for b.Loop() {
		b.StopTimer()
		tenant, user := uuid.NewString(), uuid.NewString()
		w.seedUser(tenant, user, userSeed{Rows: 10000, Uploads: []string{"done", "failed", "parked"}})
		b.StartTimer()
		if res := w.mustErase(tenant, user); !res.Done {
			b.Fatalf("EraseUser = %+v, want Done in one pass", res)
		}
	}
	b.ReportMetric(20000/(b.Elapsed().Seconds()/float64(b.N)), "entities/s")
}
