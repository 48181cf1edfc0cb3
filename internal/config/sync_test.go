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
	want := SyncTuning{Interval: 5 * time.Minute, SchedulerMaxJobs: 5000, LeaseDuration: 2 * time.Minute, WatermarkOverlap: 5 * time.Minute, ReconcileInterval: 24 * time.Hour, ChangesRetention: 30 * 24 * time.Hour, TimeBudget: 5 * time.Minute}
	if c.SyncTuning != want {
		t.Errorf("defaults = %+v, want %+v", c.SyncTuning, want)
	}
	c, err = Load(env(with(map[string]string{SettingSyncInterval: "15m", SettingSchedulerMaxJobs: "250", SettingLeaseDuration: "10s",
		SettingWatermarkOverlap: "0s", SettingReconcileInterval: "6h", SettingChangesRetention: "2160h", SettingSyncTimeBudget: "90s"})))
	if err != nil {
		t.Fatal(err)
	}
	want = SyncTuning{Interval: 15 * time.Minute, SchedulerMaxJobs: 250, LeaseDuration: 10 * time.Second, WatermarkOverlap: 0, ReconcileInterval: 6 * time.Hour, ChangesRetention: 90 * 24 * time.Hour, TimeBudget: 90 * time.Second}
	if c.SyncTuning != want {
		t.Errorf("set = %+v, want %+v", c.SyncTuning, want)
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
