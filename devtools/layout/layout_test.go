// Package layout holds the test of the repository's import rules
// (docs/architecture.md, "Import rules"): the product apart from the local
// world behind the wall, one composition root, dependencies pointing
// inward. It reads the import graph with go list, so it checks the code as
// it is, every package, every time `make test` runs.
package layout

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/pitcher/connector/"

// pkg is what go list says of one package.
type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string // of its non-test files
	Deps       []string // everything it links, transitively
}

// rel is path without the module prefix ("internal/app").
func rel(path string) string { return strings.TrimPrefix(path, module) }

// list runs go list -json over patterns from the repository's root.
func list(t *testing.T, patterns ...string) map[string]pkg {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", append([]string{"list", "-json"}, patterns...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", patterns, err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[rel(p.ImportPath)] = p
		watch(p)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list %s found no packages", patterns)
	}
	return pkgs
}

// watch stats p's folder and files, so that go test's cache, which
// cannot see what go list read, reruns this test when one of them changes.
func watch(p pkg) {
	if p.Dir == "" {
		return
	}
	_, _ = os.Stat(p.Dir)
	for _, f := range p.GoFiles {
		_, _ = os.Stat(filepath.Join(p.Dir, f))
	}
}

// product reports whether a package (relative path) is part of the
// shipped connector rather than of the local world or the build tools.
func product(p string) bool {
	return strings.HasPrefix(p, "cmd/handler") || strings.HasPrefix(p, "cmd/connectorctl") ||
		p == "handlers" || strings.HasPrefix(p, "internal/")
}

// behindTheWall reports whether an import path belongs to the local world
// or the build tools.
func behindTheWall(path string) bool {
	p := rel(path)
	return p != path && (strings.HasPrefix(p, "localworld/") || strings.HasPrefix(p, "devtools/"))
}

// ours lists the module's packages among paths, relative.
func ours(paths []string) []string {
	var out []string
	for _, p := range paths {
		if strings.HasPrefix(p, module) {
			out = append(out, rel(p))
		}
	}
	return out
}

func TestTheWall(t *testing.T) {
	all := list(t, "./...")
	var products int
	for name, p := range all {
		if !product(name) {
			continue
		}
		products++
		for _, imp := range p.Imports {
			if behindTheWall(imp) {
				t.Errorf("%s imports %s: product code never imports the local world or the build tools; "+
					"move what it needs into internal/, or the code that needs it behind the wall", name, rel(imp))
			}
		}
	}
	if products < 20 {
		t.Fatalf("found %d product packages; the product() rule no longer matches the layout", products)
	}
	if all["localworld/funchost"].ImportPath == "" || all["devtools/bicep"].ImportPath == "" {
		t.Fatal("localworld/funchost or devtools/bicep is missing: the wall's folders moved; update this test and docs/architecture.md")
	}
}

func TestProductBinaries(t *testing.T) {
	all := list(t, "./cmd/handler", "./cmd/connectorctl")
	for _, bin := range []string{"./cmd/handler", "./cmd/connectorctl"} {
		deps := all[strings.TrimPrefix(bin, "./")].Deps
		if len(deps) == 0 {
			t.Fatalf("go list knows no dependencies of %s", bin)
		}
		for _, d := range deps {
			if behindTheWall(d) {
				t.Errorf("%s links %s, which is behind the wall (localworld/, devtools/)", bin, rel(d))
			}
			if d == "testing" || d == "net/http/httptest" {
				t.Errorf("%s links %s: test support must never ship in a product binary", bin, d)
			}
		}
		if bin == "./cmd/connectorctl" && slices.Contains(deps, module+"handlers") {
			t.Errorf("connectorctl links handlers (the HTTP server and its pages); it must use internal/app's parts only")
		}
	}
}

func TestInwardDependencies(t *testing.T) {
	all := list(t, "./...")
	for name, p := range all {
		if !product(name) {
			continue
		}
		imports := ours(p.Imports)
		switch name {
		case "internal/config", "internal/apperr":
			if len(imports) > 0 {
				t.Errorf("%s imports %s; it is at the bottom and imports no product package", name, strings.Join(imports, ", "))
			}
		}
		for _, imp := range imports {
			switch {
			case imp == "handlers" && name != "cmd/handler":
				t.Errorf("%s imports handlers; only cmd/handler builds the HTTP server", name)
			case imp == "internal/app" && !strings.HasPrefix(name, "cmd/"):
				t.Errorf("%s imports internal/app; only the binaries use the composition root", name)
			}
		}
		for _, imp := range p.Imports {
			if imp == "github.com/Azure/azure-sdk-for-go/sdk/azidentity" && name != "internal/app" {
				t.Errorf("%s makes Azure credentials; only internal/app does (one credential per identity per process)", name)
			}
		}
		switch name {
		case "internal/store", "internal/mirror", "internal/documents", "internal/queue":
			if slices.Contains(imports, "internal/config") {
				t.Errorf("%s imports internal/config; it takes ready clients from internal/app, not settings", name)
			}
		}
	}
	if deps := all["internal/report"].Deps; slices.ContainsFunc(deps, func(d string) bool { return strings.Contains(d, "azservicebus") || strings.Contains(d, "go-amqp") }) {
		t.Errorf("internal/report links the Service Bus client; the meeting report is plain data and validation")
	}
}
