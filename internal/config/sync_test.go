package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLoadSyncTuning(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	want := SyncTuning{Interval: 5 * time.Minute, SchedulerMaxJobs: 5000, SchedulerMaxJobsPerTenant: 2000, LeaseDuration: 2 * time.Minute, WatermarkOverlap: 5 * time.Minute, ReconcileInterval: 24 * time.Hour, ChangesRetention: 30 * 24 * time.Hour, TimeBudget: 5 * time.Minute}
	if c.SyncTuning != want {
		t.Errorf("defaults = %+v, want %+v", c.SyncTuning, want)
	}
	c, err = Load(env(with(map[string]string{SettingSyncInterval: "15m", SettingSchedulerMaxJobs: "250", SettingLeaseDuration: "10s",
		SettingWatermarkOverlap: "0s", SettingReconcileInterval: "6h", SettingChangesRetention: "2160h", SettingSyncTimeBudget: "90s"})))
	if err != nil {
		t.Fatal(err)
	}
	want = SyncTuning{Interval: 15 * time.Minute, SchedulerMaxJobs: 250, SchedulerMaxJobsPerTenant: 250, LeaseDuration: 10 * time.Second, WatermarkOverlap: 0, ReconcileInterval: 6 * time.Hour, ChangesRetention: 90 * 24 * time.Hour, TimeBudget: 90 * time.Second}
	if c.SyncTuning != want {
		t.Errorf("set = %+v, want %+v", c.SyncTuning, want)
	}
}

// TestLoadMaxJobsPerTenant: SYNC_MAX_JOBS_PER_TENANT defaults to 2,000 (or
// SYNC_SCHEDULER_MAX_JOBS when lower), takes a whole number up to
// SYNC_SCHEDULER_MAX_JOBS, and a value above it is refused, naming both
// settings and the fix.
func TestLoadMaxJobsPerTenant(t *testing.T) {
	for _, tc := range []struct {
		set     map[string]string
		want    int
		problem string
	}{
		{map[string]string{SettingMaxJobsPerTenant: "200"}, 200, ""},
		{map[string]string{SettingSchedulerMaxJobs: "20000", SettingMaxJobsPerTenant: "20000"}, 20000, ""},
		{map[string]string{SettingSchedulerMaxJobs: "300"}, 300, ""},
		{map[string]string{SettingMaxJobsPerTenant: "0"}, 0, `SYNC_MAX_JOBS_PER_TENANT: "0" is not a whole number from 1 to 100000`},
		{map[string]string{SettingMaxJobsPerTenant: "lots"}, 0, `SYNC_MAX_JOBS_PER_TENANT: "lots" is not a whole number from 1 to 100000`},
		{map[string]string{SettingMaxJobsPerTenant: "6000"}, 0,
			"SYNC_MAX_JOBS_PER_TENANT: 6000 is more than SYNC_SCHEDULER_MAX_JOBS (5000), the most one run queues for all tenants together; set it to at most 5000, or raise SYNC_SCHEDULER_MAX_JOBS"},
	} {
		c, err := Load(env(with(tc.set)))
		if tc.problem == "" {
			if err != nil || c.SyncTuning.SchedulerMaxJobsPerTenant != tc.want {
				t.Errorf("%v: per tenant = %d, %v; want %d", tc.set, c.SyncTuning.SchedulerMaxJobsPerTenant, err, tc.want)
			}
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || !strings.Contains(ce.Problems[0].String(), tc.problem) {
			t.Errorf("%v: Load = %v; want the one problem %q", tc.set, err, tc.problem)
		}
	}
}

func TestLoadSyncTuningProblems(t *testing.T) {
	_, err := Load(env(with(map[string]string{SettingSyncInterval: "30s", SettingSchedulerMaxJobs: "many", SettingLeaseDuration: "1h",
		SettingWatermarkOverlap: "-1m", SettingReconcileInterval: "daily", SettingChangesRetention: "1h", SettingSyncTimeBudget: "10m"})))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load = %v, want *config.Error", err)
	}
	want := []string{
		`SYNC_INTERVAL: "30s" is not a duration from 1m0s to 24h0m0s`,
		`SYNC_SCHEDULER_MAX_JOBS: "many" is not a whole number from 1 to 100000`,
		`SYNC_LEASE_DURATION: "1h" is not a duration from 3s to 30m0s`,
		`SYNC_WATERMARK_OVERLAP: "-1m" is not a duration from 0s to 24h0m0s`,
		`SYNC_RECONCILE_INTERVAL: "daily" is not a duration`,
		`SYNC_CHANGES_RETENTION: "1h" is not a duration from 24h0m0s to 9600h0m0s`,
		`SYNC_TIME_BUDGET: "10m" is not a duration from 1ms to 8m0s`,
	}
	if len(ce.Problems) != len(want) {
		t.Fatalf("problems = %q, want %d: %q", ce.Problems, len(want), want)
	}
	for i, w := range want {
		if !strings.Contains(ce.Problems[i].String(), w) {
			t.Errorf("problem %d = %q, want it to contain %q", i, ce.Problems[i], w)
		}
	}
}
