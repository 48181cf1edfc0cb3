package funchost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/pitcher/connector/internal/funcwire"
)

// ParseSchedule parses an NCRONTAB expression: six fields
// ({second} {minute} {hour} {day} {month} {day-of-week}) or five (no
// seconds), in UTC, as the Functions timer trigger reads them.
func ParseSchedule(expr string) (cron.Schedule, error) {
	fields := strings.Fields(expr)
	var p cron.Parser
	switch len(fields) {
	case 6:
		p = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
	case 5:
		p = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
	default:
		if strings.Count(expr, ":") == 2 {
			return nil, fmt.Errorf("schedule %q is a TimeSpan; those run only on App Service plans, use an NCRONTAB expression such as \"0 */5 * * * *\"", expr)
		}
		return nil, fmt.Errorf("schedule %q has %d fields; NCRONTAB needs 6 ({second} {minute} {hour} {day} {month} {day-of-week}) or 5", expr, len(fields))
	}
	s, err := p.Parse(strings.Join(fields, " "))
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", expr, err)
	}
	return s, nil
}

// timerTrigger fires a timer function on its schedule. Invocations of one
// timer never overlap: like the host, it holds a singleton per function.
type timerTrigger struct {
	host       *Host
	fn         *Function
	expr       string
	schedule   cron.Schedule
	useMonitor bool
	statusFile string
}

func newTimerTrigger(h *Host, fn *Function) (*timerTrigger, error) {
	expr, err := h.settings.Expand(fn.Trigger.Schedule)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", fn.Name, err)
	}
	sched, err := ParseSchedule(expr)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", fn.Name, err)
	}
	t := &timerTrigger{host: h, fn: fn, expr: expr, schedule: sched, statusFile: filepath.Join(h.stateDir, "timers", fn.Name+".json")}
	// The host monitors schedules whose occurrences are at least a minute apart.
	first := sched.Next(time.Unix(0, 0).UTC())
	t.useMonitor = sched.Next(first).Sub(first) >= time.Minute
	if fn.Trigger.UseMonitor != nil {
		t.useMonitor = *fn.Trigger.UseMonitor
	}
	return t, nil
}

func (t *timerTrigger) describe() string {
	return fmt.Sprintf("timerTrigger, schedule %q, next %s", t.expr, t.schedule.Next(t.host.now()).Format(time.RFC3339))
}

func (t *timerTrigger) run(ctx context.Context) error {
	now := t.host.now()
	if t.fn.Trigger.RunOnStartup {
		t.fire(ctx, now, false, "Timer fired at startup (runOnStartup)")
	}
	if t.useMonitor {
		if st, err := t.loadStatus(); err != nil {
			t.host.log.Printf("Timer %s: schedule status unreadable, starting afresh: %v", t.fn.Name, err)
		} else if !st.Next.IsZero() && st.Next.Before(now) {
			t.fire(ctx, st.Next, true, "Timer is past due")
		}
	}
	for {
		next := t.schedule.Next(t.host.now())
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		t.fire(ctx, next, false, "Timer fired at "+next.Format(time.RFC3339))
	}
}

// fire invokes the function for the occurrence scheduled at occurrence.
func (t *timerTrigger) fire(ctx context.Context, occurrence time.Time, pastDue bool, reason string) {
	_, _ = t.invoke(ctx, occurrence, pastDue, reason)
}

// invokeWith runs the timer now, as the admin API does; input is ignored.
func (t *timerTrigger) invokeWith(ctx context.Context, _ string) (funcwire.InvokeResponse, error) {
	return t.invoke(ctx, t.host.now(), false, "This function was programmatically called via the host APIs.")
}

func (t *timerTrigger) invoke(ctx context.Context, occurrence time.Time, pastDue bool, reason string) (funcwire.InvokeResponse, error) {
	now := t.host.now()
	info := funcwire.TimerInfo{IsPastDue: pastDue}
	status := funcwire.ScheduleStatus{Last: occurrence.UTC(), Next: t.schedule.Next(now).UTC(), LastUpdated: now.UTC()}
	if t.useMonitor {
		info.ScheduleStatus = &status
	}
	res, err := t.host.invoke(ctx, t.fn, reason, funcwire.TimerRequest(t.fn.Name, t.fn.Trigger.Name, info, now))
	if t.useMonitor && ctx.Err() == nil {
		if err := t.saveStatus(status); err != nil {
			t.host.log.Printf("Timer %s: could not save schedule status: %v", t.fn.Name, err)
		}
	}
	return res, err
}

func (t *timerTrigger) loadStatus() (funcwire.ScheduleStatus, error) {
	var st funcwire.ScheduleStatus
	b, err := os.ReadFile(t.statusFile)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

func (t *timerTrigger) saveStatus(st funcwire.ScheduleStatus) error {
	if err := os.MkdirAll(filepath.Dir(t.statusFile), 0o755); err != nil {
		return err
	}
	b, _ := json.Marshal(st)
	tmp := t.statusFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, t.statusFile)
}
