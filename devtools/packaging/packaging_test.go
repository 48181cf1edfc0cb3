package packaging_test

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/pitcher/connector/devtools/packaging"
	"github.com/pitcher/connector/localworld/funchost"
)

// TestPackageScript runs what `make package` runs, twice, and checks the
// result is deployable and reproducible.
func TestPackageScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the handler twice")
	}
	outs := []string{t.TempDir(), t.TempDir()}
	for _, out := range outs {
		cmd := exec.Command("bash", "../../scripts/package.sh", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scripts/package.sh: %v\n%s", err, b)
		}
	}
	a, _ := os.ReadFile(filepath.Join(outs[0], "connector.zip"))
	b, _ := os.ReadFile(filepath.Join(outs[1], "connector.zip"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("two packages of the same sources differ (%d and %d bytes)", len(a), len(b))
	}

	zr, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]os.FileMode{}
	for _, f := range zr.File {
		modes[f.Name] = f.Mode()
	}
	want := []string{"host.json", "bin/linux-amd64/handler"}
	fns, _ := filepath.Glob("../../functions/*")
	for _, fn := range fns {
		want = append(want, filepath.Base(fn)+"/function.json")
	}
	for _, name := range want {
		if _, ok := modes[name]; !ok {
			t.Errorf("zip lacks %s; it has %v", name, keys(modes))
		}
	}
	if len(modes) != len(want) {
		t.Errorf("zip has %d entries %v, want exactly %d", len(modes), keys(modes), len(want))
	}
	if m := modes["bin/linux-amd64/handler"]; m.Perm() != 0o755 {
		t.Errorf("handler mode = %v, want 0755 (the exec bit is lost otherwise on Linux plans)", m)
	}

	bin := filepath.Join(outs[0], "app", "bin", "linux-amd64", "handler")
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	if ef.Machine != elf.EM_X86_64 {
		t.Errorf("handler is built for %v, want x86-64", ef.Machine)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("handler is dynamically linked; build it with CGO_ENABLED=0")
		}
	}

	// The assembled folder is a valid app root for a Functions host.
	got, err := funchost.LoadFunctions(filepath.Join(outs[0], "app"), funchost.Settings{})
	if err != nil || len(got) != len(fns) {
		t.Errorf("LoadFunctions(app folder) = %d functions, %v; want %d", len(got), err, len(fns))
	}
	if _, err := os.Stat(filepath.Join(outs[0], "app", "local.settings.json")); err == nil {
		t.Error("the app folder contains local.settings.json")
	}
}

func TestFilesRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "host.json"), []byte(`{"customHandler":{"description":{"defaultExecutablePath":"../handler"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := packaging.Files(dir, "/bin/sh"); err == nil {
		t.Error("an executable path outside the app was accepted")
	}
	if _, err := packaging.Files("../..", filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing binary was accepted")
	}
}

func keys(m map[string]os.FileMode) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
