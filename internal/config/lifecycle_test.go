package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLoadLifecycle(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	want := Lifecycle{Queue: "lifecycle", Inactive: 30 * 24 * time.Hour, Uploads: 30 * 24 * time.Hour, MaxPerRun: 1000}
	if c.Lifecycle != want {
		t.Errorf("defaults = %+v, want %+v", c.Lifecycle, want)
	}
	c, err = Load(env(with(map[string]string{SettingLifecycleQueue: "erasures", SettingRetentionInactive: "90d",
		SettingRetentionUploads: "36h", SettingRetentionMaxPerRun: "50"})))
	if err != nil {
		t.Fatal(err)
	}
	want = Lifecycle{Queue: "erasures", Inactive: 90 * 24 * time.Hour, Uploads: 36 * time.Hour, MaxPerRun: 50}
	if c.Lifecycle != want {
		t.Errorf("set = %+v, want %+v", c.Lifecycle, want)
	}
}

func TestLoadLifecycleProblems(t *testing.T) {
	_, err := Load(env(with(map[string]string{SettingLifecycleQueue: "sync-jobs", SettingRetentionInactive: "a month",
		SettingRetentionUploads: "10m", SettingRetentionMaxPerRun: "0"})))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load = %v, want *config.Error", err)
	}
	got := ce.Error()
	for _, want := range []string{
		`LIFECYCLE_QUEUE: must differ from SYNC_QUEUE and UPLOAD_QUEUE ("sync-jobs")`,
		`RETENTION_INACTIVE: "a month" is not a period from 1h to 3650d`,
		`RETENTION_UPLOADS: "10m" is not a period from 1h to 3650d`,
		`RETENTION_MAX_PER_RUN: "0" is not a whole number from 1 to 100000`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems\n%s\ndo not say %q", got, want)
		}
	}
}
