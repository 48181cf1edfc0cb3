package infra_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInfraMatchesTheApp is the check CI runs in place of a Bicep compiler:
// the templates and the code must agree.
func TestInfraMatchesTheApp(t *testing.T) {
	for _, p := range check(".", "..") {
		t.Error(p)
	}
}

// TestCheckCatchesDrift shows that each kind of disagreement fails the check:
// each case edits a copy of infra/ and expects a problem mentioning want.
func TestCheckCatchesDrift(t *testing.T) {
	tests := []struct {
		name, file, old, new, want string
	}{
		{"a setting removed", "main.bicep", "      SYNC_QUEUE: syncQueueName\n", "", "SYNC_QUEUE is needed by function SyncWorker"},
		{"an app setting removed", "main.bicep", "      UPLOAD_QUEUE: uploadQueueName\n", "", "setting UPLOAD_QUEUE is read by the app"},
		{"a queue removed", "modules/servicebus.bicep", "name: 'uploads'", "name: 'upload-jobs'", `listens on queue "uploads"`},
		{"a lock too long", "modules/servicebus.bicep", "lockDuration: 'PT1M'", "lockDuration: 'PT10M'", "queue sync-jobs: lockDuration"},
		{"duplicate detection off", "modules/servicebus.bicep", "requiresDuplicateDetection: true\n    duplicateDetectionHistoryTimeWindow: 'PT10M'", "requiresDuplicateDetection: false\n    duplicateDetectionHistoryTimeWindow: 'PT10M'", "requiresDuplicateDetection must be true"},
		{"uploads may expire unseen", "modules/servicebus.bicep", "deadLetteringOnMessageExpiration: true", "deadLetteringOnMessageExpiration: false", "an upload may never vanish"},
		{"Azure and the local fake differ", "modules/servicebus.bicep", "maxDeliveryCount: 5", "maxDeliveryCount: 7", "maxDeliveryCount is 7 in Azure (modules/servicebus.bicep) but 5 in the local fake"},
		{"a role assignment removed", "modules/servicebus.bicep", "roles.serviceBusDataSender)\n    principalId", "roles.serviceBusDataReceiver)\n    principalId", "role serviceBusDataSender is needed"},
		{"a role scoped too widely", "modules/servicebus.bicep", "scope: queue[i]\n  name: guid(queue[i].id, principalId, roles.serviceBusDataReceiver)", "scope: namespace\n  name: guid(queue[i].id, principalId, roles.serviceBusDataReceiver)", "scope it to the queue"},
		{"a wrong role id", "modules/roles.bicep", "'69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'", "'69a216fc-0000-44d8-bc22-1f3c2cd27a39'", "roles.serviceBusDataSender"},
		{"a secret with a default", "main.bicep", "param entraClientSecret string", "param entraClientSecret string = 'hunter2'", "has a default"},
		{"a secret not secure", "main.bicep", "@secure()\n@description('A client secret", "@description('A client secret", "entraClientSecret looks like a secret"},
		{"a secret in an app setting", "main.bicep", "ENTRA_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.entraClientSecretUri})'", "ENTRA_CLIENT_SECRET: entraClientSecret", "secrets may only go into Key Vault"},
		{"shared keys on", "modules/storage.bicep", "allowSharedKeyAccess: false", "allowSharedKeyAccess: true", "allowSharedKeyAccess"},
		{"an unlisted API version", "modules/identity.bicep", "@2023-01-31", "@2018-11-30", "not on the API version allow-list"},
		{"a connection string", "main.bicep", "      LOG_LEVEL: logLevel\n", "      LOG_LEVEL: logLevel\n      ServiceBusConnection: 'Endpoint=sb://x'\n", "identity-based connections"},
		{"a stale setting", "main.bicep", "      LOG_LEVEL: logLevel\n", "      LOG_LEVEL: logLevel\n      OLD_FLAG: 'true'\n", "OLD_FLAG is set in main.bicep but nothing reads it"},
		{"a redirect URI missing", "main.bicep", "  '${functionApp.outputs.url}/api/auth/callback'\n", "", "lacks /api/auth/callback"},
		{"the worker's delivery count differs from the queue's", "main.bicep", "UPLOAD_MAX_DELIVERY_COUNT: '10'", "UPLOAD_MAX_DELIVERY_COUNT: '5'", "UPLOAD_MAX_DELIVERY_COUNT is \"5\" but queue uploads has maxDeliveryCount 10"},
		{"a bad schedule", "main.bicep", "param syncSchedule string = '0 */5 * * * *'", "param syncSchedule string = 'every 5 minutes'", "function SyncScheduler: schedule"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyInfra(t)
			path := filepath.Join(dir, tc.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tc.old) {
				t.Fatalf("%s does not contain %q; update the test", tc.file, tc.old)
			}
			if err := os.WriteFile(path, []byte(strings.Replace(string(b), tc.old, tc.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			problems := check(dir, "..")
			for _, p := range problems {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("after %s, check found %q; want a problem mentioning %q", tc.name, problems, tc.want)
		})
	}
}

func copyInfra(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, pattern := range []string{"*.bicep", "modules/*.bicep"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(dir, p)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}
