package handlers

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/pitcher/connector/localworld/funchost"
)

// TestRoutesMatchFunctionJSON keeps the handler's route table and the
// function folders (a contract) in step: every function.json must reach a
// handler of its own, at the path and method the host will use.
func TestRoutesMatchFunctionJSON(t *testing.T) {
	fns, err := funchost.LoadFunctions("..", funchost.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 15 {
		t.Errorf("found %d functions, want the 15 of docs/architecture.md, \"Functions\"", len(fns))
	}
	srv, _ := newTestServer(t)
	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, fn := range fns {
		method, path := http.MethodPost, "/"+fn.Name
		if fn.Trigger.Type == funchost.HTTPTrigger {
			method, path = fn.Trigger.Methods[0], "/api/"+param.ReplaceAllString(fn.Route.Template, "x1")
		}
		_, eb := do(t, method, srv.URL+path, "{}")
		if eb.Error.Function != fn.Name || strings.Contains(eb.Error.Message, "no function serves") {
			t.Errorf("%s %s (function %s) reached %+v, want that function's handler", method, path, fn.Name, eb.Error)
		}
	}
}
