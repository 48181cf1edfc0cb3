package funchost

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestRouteMatch(t *testing.T) {
	tests := []struct {
		template, path string
		want           map[string]string // nil: no match
	}{
		{"uploads/{id}", "uploads/abc", map[string]string{"id": "abc"}},
		{"uploads/{id}", "Uploads/abc", map[string]string{"id": "abc"}},
		{"uploads/{id}", "uploads", nil},
		{"uploads/{id}", "uploads/abc/x", nil},
		{"items/{n:int}", "items/12", map[string]string{"n": "12"}},
		{"items/{n:int}", "items/x12", nil},
		{"items/{n:int?}", "items", map[string]string{}},
		{"t/{g:guid}", "t/3f2504e0-4f89-11d3-9a0c-0305e82c3301", map[string]string{"g": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"}},
		{"t/{g:guid}", "t/nope", nil},
		{"files/{*rest}", "files/a/b/c", map[string]string{"rest": "a/b/c"}},
		{"changes", "changes", map[string]string{}},
	}
	for _, tc := range tests {
		r, err := ParseRoute(tc.template)
		if err != nil {
			t.Fatalf("ParseRoute(%q): %v", tc.template, err)
		}
		got, ok := r.Match(strings.Split(tc.path, "/"))
		if ok != (tc.want != nil) || (ok && !equalMaps(got, tc.want)) {
			t.Errorf("Route(%q).Match(%q) = %v, %v; want %v", tc.template, tc.path, got, ok, tc.want)
		}
	}
	for _, bad := range []string{"a//b", "a/{x:float}", "a/x{y}", "{x?}/b", "a/{*r}/b"} {
		if _, err := ParseRoute(bad); err == nil {
			t.Errorf("ParseRoute(%q) succeeded, want an error", bad)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	from := time.Date(2026, 11, 28, 14, 3, 20, 0, time.UTC)
	tests := []struct{ expr, next string }{
		{"0 */5 * * * *", "2026-11-28T14:05:00Z"},
		{"*/10 * * * * *", "2026-11-28T14:03:30Z"},
		{"0 30 9 * * 1-5", "2026-11-30T09:30:00Z"}, // the 28th is a Saturday
		{"*/15 * * * *", "2026-11-28T14:15:00Z"},   // five fields: no seconds
	}
	for _, tc := range tests {
		s, err := ParseSchedule(tc.expr)
		if err != nil {
			t.Fatalf("ParseSchedule(%q): %v", tc.expr, err)
		}
		if got := s.Next(from).Format(time.RFC3339); got != tc.next {
			t.Errorf("ParseSchedule(%q).Next(%s) = %s, want %s", tc.expr, from.Format(time.RFC3339), got, tc.next)
		}
	}
	for expr, want := range map[string]string{"00:05:00": "TimeSpan", "* * *": "has 3 fields", "0 61 * * * *": "schedule"} {
		if _, err := ParseSchedule(expr); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSchedule(%q) error = %v, want it to mention %q", expr, err, want)
		}
	}
}

func TestParseTimeSpan(t *testing.T) {
	for in, want := range map[string]time.Duration{"00:10:00": 10 * time.Minute, "01:00:00.5": time.Hour + 500*time.Millisecond, "1.02:00:00": 26 * time.Hour} {
		if got, err := parseTimeSpan(in); err != nil || got != want {
			t.Errorf("parseTimeSpan(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"10", "00:61:00", "a:b:c", "-1:00:00"} {
		if _, err := parseTimeSpan(in); err == nil {
			t.Errorf("parseTimeSpan(%q) succeeded", in)
		}
	}
}

func TestSettingsExpand(t *testing.T) {
	s := Settings{"Q": "uploads", "EMPTY": ""}
	if got, err := s.Expand("%Q%-dlq"); err != nil || got != "uploads-dlq" {
		t.Errorf("Expand = %q, %v", got, err)
	}
	for _, in := range []string{"%MISSING%", "%EMPTY%", "%Q"} {
		if _, err := s.Expand(in); err == nil {
			t.Errorf("Expand(%q) succeeded, want an error", in)
		}
	}
}

func TestMergeSettingsEnvironmentWins(t *testing.T) {
	s := MergeSettings(map[string]string{"A": "file", "B": "file"}, []string{"A=env", "C=x=y"})
	if s["A"] != "env" || s["B"] != "file" || s["C"] != "x=y" {
		t.Errorf("MergeSettings = %v", s)
	}
}

// TestHostJSONOverrides: AzureFunctionsJobHost__a__b settings override
// host.json case-insensitively and keep booleans boolean.
func TestHostJSONOverrides(t *testing.T) {
	root := testApp{functions: map[string]string{"Echo": echoFn}}.write(t)
	hc, err := LoadHostConfig(root, Settings{
		"AzureFunctionsJobHost__customHandler__description__defaultExecutablePath": "bin/other",
		"azurefunctionsjobhost__CUSTOMHANDLER__enableForwardingHttpRequest":        "false",
		"AzureFunctionsJobHost__extensions__http__routePrefix":                     "",
	})
	if err != nil {
		t.Fatal(err)
	}
	if hc.CustomHandler.Description.DefaultExecutablePath != "bin/other" || hc.CustomHandler.EnableForwardingHTTPRequest || hc.RoutePrefix() != "" {
		t.Errorf("overrides not applied: %+v, routePrefix %q", hc.CustomHandler, hc.RoutePrefix())
	}
}

// TestLoadProblems: every broken function is reported, each naming itself.
func TestLoadProblems(t *testing.T) {
	root := testApp{functions: map[string]string{
		"Echo":      echoFn,
		"NoTrigger": `{"bindings":[{"type":"http","direction":"out","name":"res"}]}`,
		"TwoNames":  `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"* * * * * *"},{"type":"queue","direction":"out","name":"T"}]}`,
		"Blob":      `{"bindings":[{"type":"blobTrigger","direction":"in","name":"b","path":"x/{name}"}]}`,
		"BadRoute":  `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"a/{x:float}"},{"type":"http","direction":"out","name":"res"}]}`,
		"BadJSON":   `{"bindings":[`,
	}}.write(t)
	_, err := New(Options{Root: root, Addr: "127.0.0.1:0"})
	if err == nil {
		t.Fatal("New succeeded with broken functions")
	}
	for _, want := range []string{"function NoTrigger", "exactly one", "function TwoNames", `two bindings are named "T"`, "function Blob", `"blobTrigger" is not supported`, "function BadRoute", `"float"`, "function BadJSON", "not valid JSON"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New error does not mention %q:\n%v", want, err)
		}
	}

	root = testApp{values: map[string]string{"Q": ""}, functions: map[string]string{
		"Queue": queueFn,
		"Tick":  `{"bindings":[{"type":"timerTrigger","direction":"in","name":"tick","schedule":"%NOPE%"}]}`,
		"Bad":   `{"bindings":[{"type":"timerTrigger","direction":"in","name":"tick","schedule":"every minute"}]}`,
	}}.write(t)
	_, err = New(Options{Root: root, Addr: "127.0.0.1:0"})
	for _, want := range []string{"function Queue: queueName: '%Q%' does not resolve", "function Tick: '%NOPE%' does not resolve", `function Bad: schedule "every minute" has 2 fields`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New error = %v, want it to mention %q", err, want)
		}
	}
}

func TestDisabledFunction(t *testing.T) {
	root := testApp{values: map[string]string{"AzureWebJobs.Tick.Disabled": "true"}, functions: map[string]string{"Tick": yearlyTick, "Echo": echoFn}}.write(t)
	h, err := New(Options{Root: root, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.ln.Close()
	if _, ok := h.triggers["Tick"]; ok {
		t.Error("a disabled timer was scheduled")
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestServiceBusHostConfig(t *testing.T) {
	n := func(v int) *int { return &v }
	for _, tc := range []struct {
		cfg        ServiceBusConfig
		concurrent int
		renewal    time.Duration
		err        string
	}{
		{ServiceBusConfig{MaxConcurrentCalls: n(8), MaxAutoLockRenewalDuration: "00:10:00"}, 8, 10 * time.Minute, ""},
		{ServiceBusConfig{MaxConcurrentCalls: n(1), MaxAutoLockRenewalDuration: "-00:00:00.0010000"}, 1, -1, ""},
		{ServiceBusConfig{MaxConcurrentCalls: n(0)}, 0, 0, "maxConcurrentCalls is 0"},
		{ServiceBusConfig{MaxAutoLockRenewalDuration: "5 minutes"}, 0, 0, "maxAutoLockRenewalDuration"},
	} {
		c, err1 := tc.cfg.ConcurrentCalls()
		r, err2 := tc.cfg.LockRenewal()
		err := errors.Join(err1, err2)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: error %v, want one mentioning %q", tc.cfg, err, tc.err)
			}
			continue
		}
		if err != nil || c != tc.concurrent || r != tc.renewal {
			t.Errorf("%+v = %d, %s, %v; want %d, %s", tc.cfg, c, r, err, tc.concurrent, tc.renewal)
		}
	}
	if c, _ := (ServiceBusConfig{}).ConcurrentCalls(); c != 16*runtime.NumCPU() {
		t.Errorf("default maxConcurrentCalls = %d, want 16 per CPU as the host", c)
	}
	if r, _ := (ServiceBusConfig{}).LockRenewal(); r != 5*time.Minute {
		t.Errorf("default maxAutoLockRenewalDuration = %s, want 5m as the host", r)
	}
}
