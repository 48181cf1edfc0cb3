package config

import (
	"errors"
	"strings"
	"testing"
)

func TestOpsSettings(t *testing.T) {
	const diagKey = "ZGlhZ25vc3RpY3Mta2V5LTMyLWJ5dGVzLWxvbmctISE="
	c, err := Load(env(with(map[string]string{SettingDiagnosticsKey: diagKey})))
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Ops.PseudonymKey) != "pseudonym-key-32-bytes-long-!!!!" || c.Ops.DiagnosticsKey != diagKey {
		t.Errorf("Ops = %q / %q, want the decoded pseudonym key and the diagnostics key as given", c.Ops.PseudonymKey, c.Ops.DiagnosticsKey)
	}
	c, err = Load(env(valid()))
	if err != nil || c.Ops.DiagnosticsKey != "" {
		t.Errorf("without DIAGNOSTICS_KEY: Ops.DiagnosticsKey = %q, %v; want empty (only users' own diagnostics)", c.Ops.DiagnosticsKey, err)
	}
}

func TestOpsProblems(t *testing.T) {
	tests := []struct {
		name    string
		changes map[string]string
		want    []string
	}{
		{"pseudonym key missing", map[string]string{SettingPseudonymKey: "<unset>"}, []string{"LOG_PSEUDONYM_KEY: missing; set it to 32 random bytes in base64"}},
		{"pseudonym key short", map[string]string{SettingPseudonymKey: "c2hvcnQ="}, []string{"LOG_PSEUDONYM_KEY: is not at least 32 bytes in base64"}},
		{"pseudonym key not base64", map[string]string{SettingPseudonymKey: "not base64 at all, but long enough to be a key!"}, []string{"LOG_PSEUDONYM_KEY: is not at least 32 bytes"}},
		{"diagnostics key short", map[string]string{SettingDiagnosticsKey: "letmein"}, []string{"DIAGNOSTICS_KEY: is shorter than 32 characters"}},
		{"diagnostics key with a space", map[string]string{SettingDiagnosticsKey: "a key with spaces that is long enough"}, []string{"DIAGNOSTICS_KEY: may hold only printable ASCII"}},
	}
	for _, tc := range tests {
		_, err := Load(env(with(tc.changes)))
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != len(tc.want) {
			t.Errorf("%s: Load = %v, want %d problem(s) %q", tc.name, err, len(tc.want), tc.want)
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(ce.Problems[i].String(), w) {
				t.Errorf("%s: problem %d = %q, want it to contain %q", tc.name, i, ce.Problems[i], w)
			}
		}
		for _, k := range []string{SettingPseudonymKey, SettingDiagnosticsKey} {
			if v := tc.changes[k]; v != "" && v != "<unset>" && strings.Contains(err.Error(), v) {
				t.Errorf("%s: the error %q repeats the value of %s", tc.name, err, k)
			}
		}
	}
}

// TestLoadTool: tools read the same settings without the port only the
// Functions host sets, and report the same problems otherwise.
func TestLoadTool(t *testing.T) {
	c, err := LoadTool(env(with(map[string]string{SettingPort: "<unset>"})))
	if err != nil || c.Port != 0 || c.Entra.ClientID == "" {
		t.Errorf("LoadTool without the port = %+v, %v; want the settings with Port 0", c.Entra, err)
	}
	_, err = LoadTool(env(with(map[string]string{SettingPort: "<unset>", SettingClientSecret: "<unset>"})))
	if err == nil || !strings.Contains(err.Error(), "ENTRA_CLIENT_SECRET: missing") || strings.Contains(err.Error(), SettingPort) {
		t.Errorf("LoadTool without the secret = %v; want ENTRA_CLIENT_SECRET named and nothing about the port", err)
	}
}
