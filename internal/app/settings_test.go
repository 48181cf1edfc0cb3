package app

import (
	"errors"
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/config"
)

// settings are a complete set of valid settings, with changes layered over
// them ("<unset>" removes one).
func settings(changes map[string]string) func(string) string {
	kv := map[string]string{
		config.SettingPort: "7100", config.SettingStorage: "UseDevelopmentStorage=true",
		config.SettingServiceBus: "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;",
		config.SettingClientID:   "5a1c0f3e-7b2d-4c8e-9f10-2b3c4d5e6f70", config.SettingClientSecret: "s",
		config.SettingPublicBaseURL: "http://127.0.0.1:7071", config.SettingTokenKeys: "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		config.SettingPseudonymKey: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		config.SettingSyncQueue:    "sync-jobs", config.SettingUploadQueue: "uploads",
	}
	for k, v := range changes {
		kv[k] = v
		if v == "<unset>" {
			delete(kv, k)
		}
	}
	return func(k string) string { return kv[k] }
}

func TestLoadDefaults(t *testing.T) {
	s, err := Load(settings(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Sync.EntitySets) != 3 || s.Sync.EntitySets[0].Name != "accounts" {
		t.Errorf("Sync = %s, want the three default entity sets", s.Sync)
	}
	if _, ok := s.Allow.EntitySet("accounts"); !ok || s.Allow.Activity.EntitySet != "appointments" {
		t.Errorf("Allow = %s, want the default allow-list", s.Allow)
	}
	if s.Port != 7100 || s.SyncQueue != "sync-jobs" {
		t.Errorf("Config = %+v, want config.Load's", s.Config)
	}
}

func TestLoadDocuments(t *testing.T) {
	s, err := Load(settings(map[string]string{
		config.SettingSyncConfig:   ` {"entitySets":[{"name":"leads","select":["subject"]}]} `,
		config.SettingUploadConfig: `{"entitySets":[{"name":"leads","logicalName":"lead","fields":["subject"]}]}`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Sync.EntitySets) != 1 || s.Sync.EntitySets[0].Name != "leads" {
		t.Errorf("Sync = %s, want leads only", s.Sync)
	}
	if _, ok := s.Allow.EntitySet("leads"); !ok {
		t.Errorf("Allow = %s, want leads allowed", s.Allow)
	}
}

// TestLoadReportsEveryProblemAtOnce: a bad plain setting and bad JSON
// documents are reported together, each named down to the field.
func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	_, err := Load(settings(map[string]string{
		config.SettingLogLevel:     "loud",
		config.SettingSyncConfig:   `{"entitySets":[{"name":"accounts","select":[]}]}`,
		config.SettingUploadConfig: `{"entitySets":[{"name":"accounts","logicalName":"account","fields":[]}]}`,
	}))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load = %v, want *config.Error", err)
	}
	want := []string{`LOG_LEVEL: "loud" is not a log level`, "SYNC_CONFIG.entitySets[0].select: is empty", "UPLOAD_CONFIG.entitySets[0].fields: is empty"}
	if len(ce.Problems) != len(want) {
		t.Fatalf("problems = %q, want %d: %q", ce.Problems, len(want), want)
	}
	for i, w := range want {
		if !strings.Contains(ce.Problems[i].String(), w) {
			t.Errorf("problem %d = %q, want it to contain %q", i, ce.Problems[i], w)
		}
	}
	_, err = LoadTool(settings(map[string]string{config.SettingPort: "<unset>", config.SettingSyncConfig: `{`}))
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Setting != "SYNC_CONFIG.(document)" {
		t.Errorf("LoadTool with a malformed SYNC_CONFIG = %v, want its one problem (and no port needed)", err)
	}
}
