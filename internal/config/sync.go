package config

import (
	"strconv"
	"time"
)

// SyncTuning holds how often and how much the downstream sync works: the
// scheduler's cadence and bounds, the per-user lease, and the watermark
// settings of tables without change tracking.
type SyncTuning struct {
	// Interval is how often each connected user is synced: the scheduler
	// moves a user's next sync this far ahead, and jobs of the same user
	// within one interval share a MessageId. Keep SYNC_SCHEDULE at least as
	// frequent.
	Interval time.Duration
	// SchedulerMaxJobs bounds the jobs one SyncScheduler invocation
	// enqueues; the users left over are due at the next occurrence.
	SchedulerMaxJobs int
	// SchedulerMaxJobsPerTenant bounds the jobs of one tenant (one
	// organisation's Dynamics environment) in one SyncScheduler
	// invocation; the run shares SchedulerMaxJobs round-robin between the
	// tenants with users due, so a large tenant neither delays a small one
	// nor sends its environment more syncs at once than this. 0 means no
	// bound of its own (SchedulerMaxJobs).
	SchedulerMaxJobsPerTenant int
	// LeaseDuration is how long a worker's per-user lease lasts without
	// renewal (it is renewed every third of it while the worker runs): how
	// soon a crashed worker's user can be synced again.
	LeaseDuration time.Duration
	// WatermarkOverlap is how far before the stored modifiedon watermark a
	// table without change tracking is read again, for rows committed late.
	WatermarkOverlap time.Duration
	// ReconcileInterval is how often a table without change tracking is
	// compared in full with the mirror to find deleted rows.
	ReconcileInterval time.Duration
	// ChangesRetention is how long a user's change log keeps an entry. An
	// app offline for longer reads its mirror again from a snapshot.
	ChangesRetention time.Duration
	// TimeBudget is how long one SyncWorker invocation reads: a full read
	// still going at its end is checkpointed after the page in hand and
	// continued by another job, so no invocation nears the host's
	// functionTimeout (10 minutes in host.json).
	TimeBudget time.Duration
}

// Setting names of the sync tuning.
const (
	SettingSyncInterval      = "SYNC_INTERVAL"
	SettingSchedulerMaxJobs  = "SYNC_SCHEDULER_MAX_JOBS"
	SettingMaxJobsPerTenant  = "SYNC_MAX_JOBS_PER_TENANT"
	SettingLeaseDuration     = "SYNC_LEASE_DURATION"
	SettingWatermarkOverlap  = "SYNC_WATERMARK_OVERLAP"
	SettingReconcileInterval = "SYNC_RECONCILE_INTERVAL"
	SettingChangesRetention  = "SYNC_CHANGES_RETENTION"
	SettingSyncTimeBudget    = "SYNC_TIME_BUDGET"
)

// DefaultMaxJobsPerTenant is SYNC_MAX_JOBS_PER_TENANT when it is unset
// (or SYNC_SCHEDULER_MAX_JOBS when that is lower).
const DefaultMaxJobsPerTenant = 2000

func (r *reader) syncTuning() SyncTuning {
	t := SyncTuning{
		Interval:          r.duration(SettingSyncInterval, 5*time.Minute, time.Minute, 24*time.Hour),
		SchedulerMaxJobs:  r.intRange(SettingSchedulerMaxJobs, 5000, 1, 100000),
		LeaseDuration:     r.duration(SettingLeaseDuration, 2*time.Minute, 3*time.Second, 30*time.Minute),
		WatermarkOverlap:  r.duration(SettingWatermarkOverlap, 5*time.Minute, 0, 24*time.Hour),
		ReconcileInterval: r.duration(SettingReconcileInterval, 24*time.Hour, time.Minute, 30*24*time.Hour),
		ChangesRetention:  r.duration(SettingChangesRetention, 30*24*time.Hour, 24*time.Hour, 400*24*time.Hour),
		TimeBudget:        r.duration(SettingSyncTimeBudget, 5*time.Minute, time.Millisecond, 8*time.Minute),
	}
	t.SchedulerMaxJobsPerTenant = min(DefaultMaxJobsPerTenant, t.SchedulerMaxJobs)
	if r.get(SettingMaxJobsPerTenant) != "" {
		t.SchedulerMaxJobsPerTenant = r.intRange(SettingMaxJobsPerTenant, t.SchedulerMaxJobsPerTenant, 1, 100000)
		if n := t.SchedulerMaxJobsPerTenant; n > t.SchedulerMaxJobs {
			r.problem(SettingMaxJobsPerTenant, "%d is more than %s (%d), the most one run queues for all tenants together; set it to at most %d, or raise %s",
				n, SettingSchedulerMaxJobs, t.SchedulerMaxJobs, t.SchedulerMaxJobs, SettingSchedulerMaxJobs)
		}
	}
	return t
}

func (r *reader) intRange(name string, def, lo, hi int) int {
	v := r.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.problem(name, "%q is not a whole number from %d to %d", v, lo, hi)
		return def
	}
	return n
}
