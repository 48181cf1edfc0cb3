package infra_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeAz records each call's arguments and, for a parameters file (@file),
// the file's mode and content, as they are while az runs.
const fakeAz = `#!/usr/bin/env bash
log="$FAKE_AZ_LOG"
printf 'ARGS' >>"$log"; printf ' %q' "$@" >>"$log"; printf '\n' >>"$log"
for a in "$@"; do
  case "$a" in
    @*) f=${a#@}; printf 'FILE %s %s\n' "$f" "$(stat -c %a "$f")" >>"$log"; printf 'CONTENT %s\n' "$(cat "$f")" >>"$log" ;;
  esac
done
case "$*" in *"deployment group create"*) echo func-test-app ;; *"deployment group show"*) echo '{}' ;; esac
`

// TestDeployKeepsSecretsOffTheCommandLine: scripts/deploy.sh hands the
// client secret and the token keys to az in a parameters file readable only
// by its owner and removed afterwards, never as arguments, which every user
// of the machine can read (ps).
func TestDeployKeepsSecretsOffTheCommandLine(t *testing.T) {
	root := t.TempDir()
	script, err := os.ReadFile(filepath.Join("..", "scripts", "deploy.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for path, content := range map[string]string{"scripts/deploy.sh": string(script), "build/connector.zip": "zip", "bin/az": fakeAz} {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const secret, keys = `s3cr"et\~with spaces`, "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,k0:old"
	const pseudonymKey = "cHNldWRvbnltLWtleS0zMi1ieXRlcy1sb25nLSEhISE="
	const pitcherApps = "0d9e8f7a-6b5c-4d3e-8f21-a0b1c2d3e4f5,3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"
	logFile := filepath.Join(root, "az.log")
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "deploy.sh"))
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(root, "bin")+":"+os.Getenv("PATH"), "FAKE_AZ_LOG="+logFile, "TMPDIR="+root,
		"AZURE_RESOURCE_GROUP=rg", "AZURE_ENV_NAME=test", "ENTRA_CLIENT_ID=5a1c0f3e-7b2d-4c8e-9f10-2b3c4d5e6f70",
		"ENTRA_CLIENT_SECRET="+secret, "TOKEN_ENCRYPTION_KEYS="+keys, "LOG_PSEUDONYM_KEY="+pseudonymKey,
		"API_ALLOWED_CLIENT_IDS="+pitcherApps)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deploy.sh: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(logFile)
	var file, mode, args string
	var params struct {
		Parameters map[string]struct{ Value string }
	}
	for _, line := range strings.Split(string(b), "\n") {
		switch kind, rest, _ := strings.Cut(line, " "); kind {
		case "ARGS":
			args += rest + "\n"
			if strings.Contains(rest, "s3cr") || strings.Contains(rest, "AAECAw") || strings.Contains(rest, "cHNldWRvbnlt") {
				t.Errorf("az was called with a secret on its command line: %s", rest)
			}
		case "FILE":
			file, mode, _ = strings.Cut(rest, " ")
		case "CONTENT":
			if err := json.Unmarshal([]byte(rest), &params); err != nil {
				t.Errorf("the parameters file is not JSON: %v\n%s", err, rest)
			}
		}
	}
	if file == "" || mode != "600" {
		t.Fatalf("parameters file %q with mode %q, want one with mode 600; az calls:\n%s", file, mode, b)
	}
	if got := params.Parameters["entraClientSecret"].Value; got != secret {
		t.Errorf("entraClientSecret in the file = %q, want %q", got, secret)
	}
	if got := params.Parameters["tokenEncryptionKeys"].Value; got != keys {
		t.Errorf("tokenEncryptionKeys in the file = %q, want %q", got, keys)
	}
	if got := params.Parameters["logPseudonymKey"].Value; got != pseudonymKey {
		t.Errorf("logPseudonymKey in the file = %q, want %q", got, pseudonymKey)
	}
	if !strings.Contains(strings.ReplaceAll(args, `\,`, ","), "apiAllowedClientIds="+pitcherApps) { // the log quotes as printf %q does
		t.Errorf("az was not given apiAllowedClientIds=%s (API_ALLOWED_CLIENT_IDS); az calls:\n%s", pitcherApps, args)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("the parameters file %s is still there after the deployment (%v)", file, err)
	}
}
