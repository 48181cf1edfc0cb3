package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestLoadEntra(t *testing.T) {
	c, err := Load(env(with(map[string]string{
		SettingTokenKeys:         "2026-01:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=, 2026-07:ZTJlLXRlc3Qta2V5LTMyLWJ5dGVzLWxvbmctISEhISE",
		SettingActiveTokenKey:    "2026-07",
		SettingAuthorityHost:     "https://login.microsoftonline.us/",
		SettingPublicBaseURL:     "https://pitcher-connector.example.com/",
		SettingReturnToAllowlist: "https://app.pitcher.com/done, pitcher://auth",
		SettingAppIDURI:          "api://5a1c0f3e-7b2d-4c8e-9f10-2b3c4d5e6f70",
		SettingDiscoveryURL:      "http://127.0.0.1:7073",
	})))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Entra
	if e.AuthorityHost != "https://login.microsoftonline.us" || e.LoginRedirectURI != "https://pitcher-connector.example.com/api/auth/callback" ||
		e.ConsentRedirectURI != "https://pitcher-connector.example.com/api/consent/callback" || e.ActiveTokenKey != "2026-07" ||
		len(e.TokenKeys) != 2 || len(e.TokenKeys[1].Secret) != 32 || len(e.ReturnToAllowlist) != 2 || e.APIScope != "access_as_user" ||
		e.DiscoveryURL != "http://127.0.0.1:7073" {
		t.Errorf("Entra = %+v", e)
	}
	d, _ := Load(env(valid()))
	if d.Entra.AuthorityHost != "https://login.microsoftonline.com" || d.Entra.DiscoveryURL != "https://globaldisco.crm.dynamics.com" || d.Entra.ActiveTokenKey != "k1" {
		t.Errorf("defaults = %+v", d.Entra)
	}
	if s := d.Entra.String(); strings.Contains(s, "CLIENT_SECRET_VALUE") || strings.Contains(s, "MDEyMzQ1") {
		t.Errorf("String() = %q leaks a secret", s)
	}
}

func TestLoadEntraProblems(t *testing.T) {
	const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	tests := []struct {
		name    string
		changes map[string]string
		want    []string
	}{
		{"missing", map[string]string{SettingClientID: "<unset>", SettingClientSecret: "<unset>", SettingPublicBaseURL: "<unset>", SettingTokenKeys: "<unset>"},
			[]string{"ENTRA_CLIENT_ID: missing", "ENTRA_CLIENT_SECRET: missing", "PUBLIC_BASE_URL: missing", "TOKEN_ENCRYPTION_KEYS: missing"}},
		{"client id", map[string]string{SettingClientID: "pitcher"}, []string{`ENTRA_CLIENT_ID: "pitcher" is not a GUID`}},
		{"authority http", map[string]string{SettingAuthorityHost: "http://login.example.com"}, []string{"ENTRA_AUTHORITY_HOST: \"http://login.example.com\" uses http"}},
		{"authority path", map[string]string{SettingAuthorityHost: "https://login.microsoftonline.com/common"}, []string{"ENTRA_AUTHORITY_HOST: \"https://login.microsoftonline.com/common\" is not an authority host"}},
		{"base url path", map[string]string{SettingPublicBaseURL: "https://x.example.com/api"}, []string{`PUBLIC_BASE_URL: "https://x.example.com/api" is not an https URL without a path`}},
		{"base url http", map[string]string{SettingPublicBaseURL: "http://x.example.com"}, []string{"PUBLIC_BASE_URL: \"http://x.example.com\" is not an https URL"}},
		{"short key", map[string]string{SettingTokenKeys: "k1:c2hvcnQ="}, []string{`TOKEN_ENCRYPTION_KEYS: key "k1" is not 32 bytes`}},
		{"no id", map[string]string{SettingTokenKeys: key}, []string{"TOKEN_ENCRYPTION_KEYS: entry 1 has no valid id"}},
		{"duplicate id", map[string]string{SettingTokenKeys: "a:" + key + ",a:" + key}, []string{`TOKEN_ENCRYPTION_KEYS: key id "a" appears twice`}},
		{"active missing", map[string]string{SettingTokenKeys: "a:" + key + ",b:" + key}, []string{"TOKEN_ENCRYPTION_ACTIVE_KEY: missing"}},
		{"active unknown", map[string]string{SettingActiveTokenKey: "zz"}, []string{`TOKEN_ENCRYPTION_ACTIVE_KEY: "zz" is not one of the key ids`}},
		{"return_to", map[string]string{SettingReturnToAllowlist: "app.pitcher.com,http://evil.example/x,https://a.example/?q=1"},
			[]string{`RETURN_TO_ALLOWLIST: "app.pitcher.com" is not an absolute URL`, `RETURN_TO_ALLOWLIST: "http://evil.example/x" uses http`, `RETURN_TO_ALLOWLIST: "https://a.example/?q=1" has user info, a query or a fragment`}},
		{"app id uri and scope", map[string]string{SettingAppIDURI: "pitcher", SettingAPIScope: "access as user"},
			[]string{`ENTRA_APP_ID_URI: "pitcher" is not an Application ID URI`, `ENTRA_API_SCOPE: "access as user" is not a scope name`}},
		{"discovery", map[string]string{SettingDiscoveryURL: "globaldisco.crm.dynamics.com"}, []string{`DYNAMICS_DISCOVERY_URL: "globaldisco.crm.dynamics.com" is not an https URL`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(with(tc.changes)))
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) != len(tc.want) {
				t.Fatalf("Load = %v, want %d problems: %q", err, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(ce.Problems[i].String(), w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, ce.Problems[i], w)
				}
			}
			if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "CLIENT_SECRET_VALUE") {
				t.Errorf("the error quotes a key or the secret: %v", err)
			}
		})
	}
}

// TestAPIAllowedClientIDs: the applications whose tokens the API accepts
// are the listed client ids (lower case, each once), by default the
// connector's own; anything but GUIDs is refused naming the setting.
func TestAPIAllowedClientIDs(t *testing.T) {
	const app, other = "0d9e8f7a-6b5c-4d3e-8f21-a0b1c2d3e4f5", "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"
	for _, tc := range []struct {
		setting string
		want    []string
	}{
		{"<unset>", []string{"5a1c0f3e-7b2d-4c8e-9f10-2b3c4d5e6f70"}},
		{app, []string{app}},
		{strings.ToUpper(app) + ", " + other + ",," + app, []string{app, other}},
	} {
		c, err := Load(env(with(map[string]string{SettingAPIAllowedClientIDs: tc.setting})))
		if err != nil || !slices.Equal(c.Entra.APIAllowedClientIDs, tc.want) {
			t.Errorf("%s = %q: APIAllowedClientIDs = %q, %v; want %q", SettingAPIAllowedClientIDs, tc.setting, c.Entra.APIAllowedClientIDs, err, tc.want)
		}
	}
	_, err := Load(env(with(map[string]string{SettingAPIAllowedClientIDs: app + ",pitcher-app,{" + other + "}"})))
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != 2 {
		t.Fatalf("Load with two bad client ids = %v, want 2 problems", err)
	}
	for i, bad := range []string{"pitcher-app", "{" + other + "}"} {
		if p := ce.Problems[i].String(); !strings.HasPrefix(p, "API_ALLOWED_CLIENT_IDS: ") || !strings.Contains(p, bad) || !strings.Contains(p, "Application (client) ID") {
			t.Errorf("problem %d = %q, want it to name API_ALLOWED_CLIENT_IDS, %q and what to list", i, p, bad)
		}
	}
}
