package config

import (
	"strconv"
	"strings"
	"time"
)

// Lifecycle holds the settings of erasure and retention (internal/lifecycle,
// docs/privacy.md).
type Lifecycle struct {
	// Queue is the Service Bus queue of erasures that go on in the
	// background (a disconnect that did not finish within its request, an
	// offboarding an operator queued).
	Queue string
	// Inactive: connections that need reauthorization (or never finished
	// their sign-in) for longer are erased by the retention run.
	Inactive time.Duration
	// Uploads: finished uploads older than this are deleted.
	Uploads time.Duration
	// MaxPerRun bounds the erasures and deletions of one retention run.
	MaxPerRun int
}

// Setting names of the lifecycle group. RETENTION_SCHEDULE, the retention
// timer's NCRONTAB expression, is read by the Functions host.
const (
	SettingLifecycleQueue     = "LIFECYCLE_QUEUE"
	SettingRetentionInactive  = "RETENTION_INACTIVE"
	SettingRetentionUploads   = "RETENTION_UPLOADS"
	SettingRetentionMaxPerRun = "RETENTION_MAX_PER_RUN"
)

func (r *reader) lifecycle() Lifecycle {
	l := Lifecycle{
		Queue:     "lifecycle",
		Inactive:  r.days(SettingRetentionInactive, 30),
		Uploads:   r.days(SettingRetentionUploads, 30),
		MaxPerRun: r.intRange(SettingRetentionMaxPerRun, 1000, 1, 100000),
	}
	if r.get(SettingLifecycleQueue) != "" {
		l.Queue = r.queueName(SettingLifecycleQueue, "lifecycle")
	}
	return l
}

// days reads a retention period: a number of days ("30d") or a Go
// duration ("720h"), from one hour to ten years.
func (r *reader) days(name string, def int) time.Duration {
	v := r.get(name)
	if v == "" {
		return time.Duration(def) * 24 * time.Hour
	}
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(v, "d"); ok {
		var days int
		days, err = strconv.Atoi(n)
		d = time.Duration(days) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d < time.Hour || d > 10*365*24*time.Hour {
		r.problem(name, "%q is not a period from 1h to 3650d; write it in days like 30d (or as a duration like 720h)", v)
		return time.Duration(def) * 24 * time.Hour
	}
	return d
}
