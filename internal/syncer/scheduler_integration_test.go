package syncer_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncer"
	"github.com/pitcher/connector/localworld/testenv"
)

type sentJobs struct {
	mu   sync.Mutex
	jobs []queue.SyncJob
}

func (s *sentJobs) Send(_ context.Context, jobs ...queue.SyncJob) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs = append(s.jobs, jobs...)
	return nil
}

// TestSchedulerEnqueuesDueUsers: active users who are due get one job each
// (bounded per run), their next sync moves an interval ahead, and every job
// of the interval has the same slot (so a repeated run's jobs are dropped as
// duplicates by MessageId).
func TestSchedulerEnqueuesDueUsers(t *testing.T) {
	ctx := context.Background()
	svc, err := aztables.NewServiceClientFromConnectionString(testenv.Storage(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := store.NewDB(svc, testenv.TablePrefix(t))
	if err := db.CreateTables(ctx, store.ConnectionsTable); err != nil {
		t.Fatal(err)
	}
	conns := store.NewConnections(db)
	now := time.Date(2026, 11, 28, 14, 7, 30, 0, time.UTC)
	tenants := []string{uuid.NewString(), uuid.NewString()}
	due := map[string]bool{}
	for i := range 130 {
		c := store.Connection{TenantID: tenants[i%2], UserID: uuid.NewString(), Status: store.StatusActive, NextSyncAt: now.Add(-time.Minute)}
		switch i % 10 {
		case 7:
			c.Status = store.StatusReauthRequired
		case 8:
			c.NextSyncAt = now.Add(time.Minute)
		default:
			due[c.UserID] = true
		}
		if _, err := conns.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	sent := &sentJobs{}
	tuning := config.SyncTuning{Interval: 5 * time.Minute, SchedulerMaxJobs: 60}
	s := &syncer.Scheduler{Conns: conns, Jobs: sent, Tuning: tuning, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }}
	res, err := s.Run(ctx, false)
	if err != nil || res.Enqueued != 60 || !res.Capped {
		t.Fatalf("first run = %+v, %v; want 60 jobs, capped", res, err)
	}
	res, err = s.Run(ctx, true)
	if err != nil || res.Enqueued != len(due)-60 || res.Capped {
		t.Fatalf("second run = %+v, %v; want the other %d due users", res, err, len(due)-60)
	}
	if res, _ := s.Run(ctx, false); res.Enqueued != 0 {
		t.Errorf("third run enqueued %d, want none: every due user moved ahead", res.Enqueued)
	}
	seen := map[string]bool{}
	for _, j := range sent.jobs {
		if !due[j.UserID] || seen[j.UserID] {
			t.Errorf("job for %s: due %v, seen before %v", j.UserID, due[j.UserID], seen[j.UserID])
		}
		seen[j.UserID] = true
		if want := now.Truncate(5 * time.Minute); !j.Slot.Equal(want) || j.Reason != queue.ReasonScheduled {
			t.Errorf("job slot = %s (%s), want %s for every scheduled job of this interval", j.Slot, j.Reason, want)
		}
	}
	c, err := conns.Get(ctx, sent.jobs[0].TenantID, sent.jobs[0].UserID)
	if err != nil || !c.NextSyncAt.Equal(now.Add(5*time.Minute)) || c.Status != store.StatusActive {
		t.Errorf("connection after scheduling = %+v, %v; want next sync in 5 minutes, still active", c, err)
	}
}
