package config

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func valid() map[string]string {
	return map[string]string{
		SettingPort:          "7100",
		SettingStorage:       "UseDevelopmentStorage=true",
		SettingServiceBus:    "Endpoint=sb://localhost:5672;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;",
		SettingSyncQueue:     "sync-jobs",
		SettingUploadQueue:   "uploads",
		SettingClientID:      "5a1c0f3e-7b2d-4c8e-9f10-2b3c4d5e6f70",
		SettingClientSecret:  "CLIENT_SECRET_VALUE",
		SettingPublicBaseURL: "https://pitcher-connector.example.com",
		SettingTokenKeys:     "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		SettingPseudonymKey:  "cHNldWRvbnltLWtleS0zMi1ieXRlcy1sb25nLSEhISE=",
	}
}

func with(changes map[string]string) map[string]string {
	kv := valid()
	for k, v := range changes {
		if v == "<unset>" {
			delete(kv, k)
			continue
		}
		kv[k] = v
	}
	return kv
}

func TestLoadValid(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil {
		t.Fatalf("Load(valid) = %v", err)
	}
	if c.Port != 7100 || c.SyncQueue != "sync-jobs" || c.UploadQueue != "uploads" || c.LogLevel != slog.LevelInfo || c.ShutdownTimeout != 30*time.Second {
		t.Errorf("Load(valid) = %+v", c)
	}
	if c.Storage.ConnectionString != DevelopmentStorage {
		t.Errorf("UseDevelopmentStorage=true became %q, want Azurite's development connection string", c.Storage.ConnectionString)
	}
}

func TestLoadIdentityBased(t *testing.T) {
	c, err := Load(env(with(map[string]string{
		SettingStorage: "<unset>", SettingStorage + "__accountName": "pitcherconn", SettingStorage + "__credential": "managedidentity",
		SettingStorage + "__clientId": "6f1b3c1e-2d4a-4b6c-8e9f-0a1b2c3d4e5f",
		SettingServiceBus:             "<unset>", SettingServiceBus + "__fullyQualifiedNamespace": "pitcher-sb.servicebus.windows.net",
		SettingServiceBus + "__clientId": "6f1b3c1e-2d4a-4b6c-8e9f-0a1b2c3d4e5f",
	})))
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if c.Storage.TableServiceURL != "https://pitcherconn.table.core.windows.net" || c.Storage.BlobServiceURL != "https://pitcherconn.blob.core.windows.net" || c.Storage.ClientID == "" {
		t.Errorf("Storage = %+v", c.Storage)
	}
	if c.ServiceBus.Namespace != "pitcher-sb.servicebus.windows.net" || c.ServiceBus.ClientID == "" {
		t.Errorf("ServiceBus = %+v", c.ServiceBus)
	}
}

// TestLoadProblems checks that every bad setting is reported, named, with a
// fix, and all at once.
func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name    string
		changes map[string]string
		want    []string // substrings of the problems, in order
	}{
		{"nothing set", map[string]string{SettingPort: "<unset>", SettingStorage: "<unset>", SettingServiceBus: "<unset>", SettingSyncQueue: "<unset>", SettingUploadQueue: "<unset>"},
			[]string{"FUNCTIONS_CUSTOMHANDLER_PORT: missing", "AzureWebJobsStorage: missing", "ServiceBusConnection: missing", "SYNC_QUEUE: missing", "UPLOAD_QUEUE: missing"}},
		{"bad port", map[string]string{SettingPort: "70000"}, []string{`FUNCTIONS_CUSTOMHANDLER_PORT: "70000" is not a TCP port`}},
		{"bad queue names", map[string]string{SettingSyncQueue: "-jobs", SettingUploadQueue: "up loads"},
			[]string{`SYNC_QUEUE: "-jobs" must start and end`, `UPLOAD_QUEUE: "up loads" may contain only`}},
		{"same queue twice", map[string]string{SettingUploadQueue: "sync-jobs"}, []string{"UPLOAD_QUEUE: must differ from SYNC_QUEUE"}},
		{"storage key missing", map[string]string{SettingStorage: "DefaultEndpointsProtocol=https;AccountName=x;EndpointSuffix=core.windows.net"},
			[]string{"AzureWebJobsStorage: has neither AccountKey nor SharedAccessSignature"}},
		{"storage garbage", map[string]string{SettingStorage: "hello"}, []string{"AzureWebJobsStorage: is not a connection string: part 1 is not Key=Value"}},
		{"storage unknown key", map[string]string{SettingStorage: "AccountName=x;AccountKey=k;Acount=y"}, []string{`AzureWebJobsStorage: has an unknown key "Acount"`}},
		{"storage both ways", map[string]string{SettingStorage + "__accountName": "pitcherconn"}, []string{"AzureWebJobsStorage: both a connection string and"}},
		{"storage bad account", map[string]string{SettingStorage: "<unset>", SettingStorage + "__accountName": "Pitcher_Conn"},
			[]string{`AzureWebJobsStorage__accountName: "Pitcher_Conn" is not a storage account name`}},
		{"storage bad identity", map[string]string{SettingStorage: "<unset>", SettingStorage + "__tableServiceUri": "http://x", SettingStorage + "__clientId": "me", SettingStorage + "__credential": "secret"},
			[]string{`AzureWebJobsStorage__credential: "secret" is not supported`, `AzureWebJobsStorage__clientId: "me" is not a GUID`, `AzureWebJobsStorage__tableServiceUri: "http://x" is not an https URL`}},
		{"service bus endpoint", map[string]string{SettingServiceBus: "Endpoint=https://x;SharedAccessKeyName=k;SharedAccessKey=v"}, []string{"ServiceBusConnection: Endpoint must look like sb://"}},
		{"service bus entity path", map[string]string{SettingServiceBus: "Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=v;EntityPath=uploads"}, []string{"ServiceBusConnection: has EntityPath"}},
		{"service bus namespace", map[string]string{SettingServiceBus: "<unset>", SettingServiceBus + "__fullyQualifiedNamespace": "sb://pitcher"}, []string{`ServiceBusConnection__fullyQualifiedNamespace: "sb://pitcher" is not a host name`}},
		{"table prefix", map[string]string{SettingTablePrefix: "test-1"}, []string{`STORAGE_TABLE_PREFIX: "test-1" is not a table name prefix`}},
		{"log level and timeout", map[string]string{SettingLogLevel: "loud", SettingShutdownTimeout: "5h"}, []string{`LOG_LEVEL: "loud" is not a log level`, `SHUTDOWN_TIMEOUT: "5h" is not a duration from 1s to 10m0s`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(with(tc.changes)))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load error = %v, want *config.Error", err)
			}
			if len(ce.Problems) != len(tc.want) {
				t.Fatalf("Load problems = %q, want %d: %q", ce.Problems, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(ce.Problems[i].String(), w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, ce.Problems[i], w)
				}
			}
		})
	}
}

// TestSecretsNeverInMessages: problems and descriptions never echo keys.
func TestSecretsNeverInMessages(t *testing.T) {
	const secret = "c2VjcmV0LWtleS12YWx1ZQ=="
	_, err := Load(env(with(map[string]string{SettingStorage: "AccountName=x;AccountKey=" + secret + ";Oops", SettingServiceBus: "Endpoint=sb://x/;SharedAccessKey=" + secret})))
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("Load error = %v; want an error that does not contain the key", err)
	}
	c, err := Load(env(with(map[string]string{SettingStorage: "AccountName=x;AccountKey=" + secret + ";TableEndpoint=https://x.table.core.windows.net"})))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Storage.String() + c.ServiceBus.String(); strings.Contains(s, secret) || strings.Contains(s, "SAS_KEY_VALUE") {
		t.Errorf("descriptions %q contain a key", s)
	}
}

func TestLoadServiceBusOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		kv   map[string]string
		want ServiceBus
		err  string
	}{
		{"connection string, nothing else set", map[string]string{SettingServiceBus: valid()[SettingServiceBus]}, ServiceBus{ConnectionString: valid()[SettingServiceBus]}, ""},
		{"identity", map[string]string{SettingServiceBus + "__fullyQualifiedNamespace": "pitcher-sb.servicebus.windows.net"}, ServiceBus{Namespace: "pitcher-sb.servicebus.windows.net"}, ""},
		{"missing", map[string]string{}, ServiceBus{}, "ServiceBusConnection: missing"},
		{"both", map[string]string{SettingServiceBus: valid()[SettingServiceBus], SettingServiceBus + "__fullyQualifiedNamespace": "x.servicebus.windows.net"}, ServiceBus{}, "keep one"},
	} {
		got, err := LoadServiceBus(env(tc.kv))
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: LoadServiceBus = %+v, %v; want %+v, error mentioning %q", tc.name, got, err, tc.want, tc.err)
		}
	}
}
