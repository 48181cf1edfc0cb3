package funchost

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Binding is one entry of function.json's bindings.
type Binding struct {
	Type              string   `json:"type"`
	Direction         string   `json:"direction"`
	Name              string   `json:"name"`
	DataType          string   `json:"dataType"`
	AuthLevel         string   `json:"authLevel"`
	Methods           []string `json:"methods"`
	Route             string   `json:"route"`
	Schedule          string   `json:"schedule"`
	RunOnStartup      bool     `json:"runOnStartup"`
	UseMonitor        *bool    `json:"useMonitor"`
	QueueName         string   `json:"queueName"`
	Connection        string   `json:"connection"`
	IsSessionsEnabled bool     `json:"isSessionsEnabled"`
	Cardinality       string   `json:"cardinality"`
}

// Function is one function folder: its name (the folder's) and its bindings.
type Function struct {
	Name     string
	Dir      string
	Bindings []Binding
	Disabled bool
	// Trigger is the function's single trigger binding.
	Trigger Binding
	// Forwarded is true for HTTP functions whose only bindings are httpTrigger
	// in and http out: the host forwards their requests unchanged.
	Forwarded bool
	// Route is the parsed route template of an HTTP function.
	Route *Route
}

// Trigger types funchost knows.
const (
	HTTPTrigger       = "httpTrigger"
	TimerTrigger      = "timerTrigger"
	ServiceBusTrigger = "serviceBusTrigger"
)

type functionFile struct {
	Disabled json.RawMessage `json:"disabled"`
	Bindings []Binding       `json:"bindings"`
}

// LoadFunctions reads every <dir>/function.json under root (the packaged
// layout) or, if there is none, under root/functions (this repository's
// source layout). Problems in any function are reported together.
func LoadFunctions(root string, settings Settings) ([]*Function, error) {
	paths, _ := filepath.Glob(filepath.Join(root, "*", "function.json"))
	if len(paths) == 0 {
		paths, _ = filepath.Glob(filepath.Join(root, "functions", "*", "function.json"))
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no function.json under %s or %s", root, filepath.Join(root, "functions"))
	}
	sort.Strings(paths)
	var fns []*Function
	var errs []error
	for _, p := range paths {
		f, err := loadFunction(p, settings)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fns = append(fns, f)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return fns, nil
}

func loadFunction(path string, settings Settings) (*Function, error) {
	dir := filepath.Dir(path)
	f := &Function{Name: filepath.Base(dir), Dir: dir}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("function %s (%s): %s", f.Name, path, fmt.Sprintf(format, args...))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fail("%v", err)
	}
	var ff functionFile
	if err := json.Unmarshal(b, &ff); err != nil {
		return nil, fail("not valid JSON: %v", err)
	}
	f.Bindings = ff.Bindings
	f.Disabled = isTrue(string(ff.Disabled)) || isTrue(settings["AzureWebJobs."+f.Name+".Disabled"])

	var triggers []Binding
	names := map[string]bool{}
	var httpOut int
	for i, b := range f.Bindings {
		switch {
		case b.Name == "":
			return nil, fail("binding %d has no name", i)
		case names[strings.ToLower(b.Name)]:
			return nil, fail("two bindings are named %q", b.Name)
		case b.Direction != "in" && b.Direction != "out" && b.Direction != "inout":
			return nil, fail("binding %q has direction %q; use in or out", b.Name, b.Direction)
		}
		names[strings.ToLower(b.Name)] = true
		if strings.HasSuffix(b.Type, "Trigger") {
			triggers = append(triggers, b)
		}
		if b.Type == "http" && b.Direction == "out" {
			httpOut++
		}
	}
	if len(triggers) != 1 {
		return nil, fail("has %d trigger bindings; a function needs exactly one", len(triggers))
	}
	f.Trigger = triggers[0]
	switch f.Trigger.Type {
	case HTTPTrigger:
		f.Forwarded = len(f.Bindings) == 2 && httpOut == 1
		if err := checkHTTPTrigger(&f.Trigger); err != nil {
			return nil, fail("%v", err)
		}
		route := f.Trigger.Route
		if route == "" {
			route = f.Name
		}
		if f.Route, err = ParseRoute(route); err != nil {
			return nil, fail("%v", err)
		}
	case TimerTrigger:
		if f.Trigger.Schedule == "" {
			return nil, fail("timerTrigger has no schedule")
		}
	case ServiceBusTrigger:
		if f.Trigger.QueueName == "" {
			return nil, fail("serviceBusTrigger has no queueName (funchost does not support topics)")
		}
		if f.Trigger.IsSessionsEnabled {
			return nil, fail("serviceBusTrigger with isSessionsEnabled is not supported by funchost")
		}
	default:
		return nil, fail("trigger type %q is not supported by funchost (it knows httpTrigger, timerTrigger and serviceBusTrigger)", f.Trigger.Type)
	}
	return f, nil
}

func checkHTTPTrigger(b *Binding) error {
	switch strings.ToLower(b.AuthLevel) {
	case "", "anonymous", "function", "admin":
	default:
		return fmt.Errorf("httpTrigger authLevel %q is not anonymous, function or admin", b.AuthLevel)
	}
	for i, m := range b.Methods {
		m = strings.ToUpper(m)
		switch m {
		case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE":
			b.Methods[i] = m
		default:
			return fmt.Errorf("httpTrigger method %q is not an HTTP method", m)
		}
	}
	return nil
}

// AllowsMethod reports whether an HTTP function accepts method (no methods
// listed means all).
func (f *Function) AllowsMethod(method string) bool {
	if len(f.Trigger.Methods) == 0 {
		return true
	}
	for _, m := range f.Trigger.Methods {
		if m == method {
			return true
		}
	}
	return false
}

func isTrue(v string) bool {
	v = strings.Trim(strings.TrimSpace(v), `"`)
	return strings.EqualFold(v, "true") || v == "1"
}
