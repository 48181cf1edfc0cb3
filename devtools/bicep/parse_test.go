package bicep

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `// a comment
targetScope = 'resourceGroup'

@secure()
@description('The secret, with a \'quote\'.')
param secret string

param count int = 3
param names array = [
  'a'
  'b'
]

var settings = {
  ONE: 'one'
  'TWO-X': concat('t', 'wo') /* inline */
  NESTED: {
    deep: true
  }
}

resource ns 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: 'sb-${count}'
  properties: { disableLocalAuth: true, minimumTlsVersion: '1.2' }

  resource q 'queues' = {
    name: 'uploads'
  }
}

resource ra 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (q, i) in names: {
  scope: ns::q
  name: guid(q, i)
}]

module m 'modules/x.bicep' = if (count > 1) {
  name: 'm'
  params: {
    values: union(settings, {
      THREE: '3'
    })
  }
}

output url string = 'https://${ns.name}'
`

func TestParse(t *testing.T) {
	f, err := Parse(sample)
	if err != nil {
		t.Fatal(err)
	}
	if f.TargetScope != "resourceGroup" {
		t.Errorf("TargetScope = %q", f.TargetScope)
	}
	if p := f.Param("secret"); p == nil || !p.Secure() || p.Default != nil {
		t.Errorf("param secret = %+v, want @secure() without default", p)
	}
	if p := f.Param("names"); p == nil || p.Default == nil || len(p.Default.Items) != 2 {
		t.Errorf("param names = %+v, want a 2-item array default", p)
	}
	v := f.Var("settings").Value
	if s, _ := v.Get("ONE").Text(); s != "one" {
		t.Errorf("settings.ONE = %q", s)
	}
	if e := v.Get("TWO-X").String(); !strings.HasPrefix(e, "concat") {
		t.Errorf("settings.TWO-X = %q, want the expression", e)
	}
	if v.Get("NESTED", "deep").String() != "true" {
		t.Errorf("settings.NESTED.deep = %q", v.Get("NESTED", "deep"))
	}
	all := f.AllResources()
	if len(all) != 3 || all[1].Type != "Microsoft.ServiceBus/namespaces/queues" || all[1].APIVersion != "2024-01-01" {
		t.Fatalf("resources = %+v", all)
	}
	if ns := all[0]; ns.Body.Get("properties", "minimumTlsVersion").String() != "'1.2'" {
		t.Errorf("one-line object not parsed: %q", ns.Body.Get("properties", "minimumTlsVersion"))
	}
	if ra := all[2]; ra.Loop == "" || !strings.Contains(ra.Body.Get("scope").String(), "ns") {
		t.Errorf("loop resource = %+v", ra)
	}
	if m := f.Modules[0]; m.Path != "modules/x.bicep" || m.Condition == "" || m.Body.Get("params", "values") == nil {
		t.Errorf("module = %+v", m)
	}
	if len(f.Outputs) != 1 || f.Outputs[0].Type != "string" {
		t.Errorf("outputs = %+v", f.Outputs)
	}
}

func TestParseErrors(t *testing.T) {
	for _, src := range []string{
		"param x string = 'unterminated",
		"resource r 'T@1' = {\n  name: 'x'\n",
		"bogus statement",
		"var x = {\n  a 1\n}",
	} {
		if _, err := Parse(src); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", src)
		}
	}
}

// FuzzParse: the parser may reject input but must not panic or hang. The
// seeds are the repository's own templates.
func FuzzParse(f *testing.F) {
	f.Add(sample)
	paths, _ := filepath.Glob("../../infra/*.bicep")
	more, _ := filepath.Glob("../../infra/modules/*.bicep")
	for _, p := range append(paths, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, src string) { _, _ = Parse(src) })
}
