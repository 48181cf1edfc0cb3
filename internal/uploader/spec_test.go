package uploader_test

import (
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pitcher/connector/devtools/apispec"
	"github.com/pitcher/connector/localworld/testworld"
)

var (
	specOnce sync.Once
	spec     *apispec.Spec
	specErr  error
)

// specChecker validates every answer an end-to-end test receives against
// docs/openapi.yaml.
type specChecker struct{ s *apispec.Spec }

func loadSpec(t testing.TB) *specChecker {
	t.Helper()
	specOnce.Do(func() { spec, specErr = apispec.Load(filepath.Join(testworld.RepoRoot(t), "docs", "openapi.yaml")) })
	if specErr != nil {
		t.Fatal(specErr)
	}
	return &specChecker{s: spec}
}

func (c *specChecker) check(t testing.TB, method, path string, status int, h http.Header, body []byte) {
	t.Helper()
	if err := c.s.CheckResponse(method, path, status, h, body); err != nil {
		t.Errorf("the answer differs from docs/openapi.yaml: %v", err)
	}
}
