package funchost

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// HostConfig is the part of host.json funchost acts on.
type HostConfig struct {
	Version         string `json:"version"`
	FunctionTimeout string `json:"functionTimeout"`
	CustomHandler   struct {
		Description struct {
			DefaultExecutablePath string   `json:"defaultExecutablePath"`
			WorkingDirectory      string   `json:"workingDirectory"`
			Arguments             []string `json:"arguments"`
		} `json:"description"`
		EnableForwardingHTTPRequest bool   `json:"enableForwardingHttpRequest"`
		InitializationTimeout       string `json:"initializationTimeout"`
	} `json:"customHandler"`
	Extensions struct {
		HTTP struct {
			RoutePrefix *string `json:"routePrefix"`
		} `json:"http"`
		ServiceBus ServiceBusConfig `json:"serviceBus"`
	} `json:"extensions"`
}

// ServiceBusConfig is the part of host.json's extensions.serviceBus (the
// flat extension 5.x keys) funchost acts on.
type ServiceBusConfig struct {
	MaxConcurrentCalls         *int   `json:"maxConcurrentCalls"`
	MaxAutoLockRenewalDuration string `json:"maxAutoLockRenewalDuration"`
	AutoCompleteMessages       *bool  `json:"autoCompleteMessages"`
}

// ConcurrentCalls is maxConcurrentCalls: how many messages of one function
// run at once (the host's default is 16 per processor).
func (c ServiceBusConfig) ConcurrentCalls() (int, error) {
	if c.MaxConcurrentCalls == nil {
		return 16 * runtime.NumCPU(), nil
	}
	if *c.MaxConcurrentCalls < 1 {
		return 0, fmt.Errorf("host.json: extensions.serviceBus.maxConcurrentCalls is %d; it must be at least 1", *c.MaxConcurrentCalls)
	}
	return *c.MaxConcurrentCalls, nil
}

// LockRenewal is maxAutoLockRenewalDuration: how long a running function's
// message lock is renewed (default 5 minutes; a negative time span, as the
// docs suggest with -00:00:00.0010000, means for as long as it runs).
func (c ServiceBusConfig) LockRenewal() (time.Duration, error) {
	v := c.MaxAutoLockRenewalDuration
	switch {
	case v == "":
		return 5 * time.Minute, nil
	case strings.HasPrefix(v, "-"):
		if _, err := parseTimeSpan(v[1:]); err != nil {
			return 0, fmt.Errorf("host.json: extensions.serviceBus.maxAutoLockRenewalDuration %q is not a time span", v)
		}
		return -1, nil
	}
	d, err := parseTimeSpan(v)
	if err != nil {
		return 0, fmt.Errorf("host.json: extensions.serviceBus.maxAutoLockRenewalDuration %q is not a hh:mm:ss time span", v)
	}
	return d, nil
}

// overridePrefix marks app settings that override host.json values, e.g.
// AzureFunctionsJobHost__customHandler__description__defaultExecutablePath.
const overridePrefix = "AzureFunctionsJobHost__"

// LoadHostConfig reads root/host.json and applies the AzureFunctionsJobHost__
// overrides among settings, as the Functions host does.
func LoadHostConfig(root string, settings Settings) (HostConfig, error) {
	b, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		return HostConfig{}, fmt.Errorf("read host.json: %w", err)
	}
	var tree map[string]any
	if err := json.Unmarshal(b, &tree); err != nil {
		return HostConfig{}, fmt.Errorf("host.json is not valid JSON: %w", err)
	}
	for k, v := range settings {
		if len(k) > len(overridePrefix) && strings.EqualFold(k[:len(overridePrefix)], overridePrefix) {
			setPath(tree, strings.Split(k[len(overridePrefix):], "__"), v)
		}
	}
	b, _ = json.Marshal(tree)
	var c HostConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return HostConfig{}, fmt.Errorf("host.json: %w", err)
	}
	if c.Version != "2.0" {
		return HostConfig{}, fmt.Errorf("host.json: version is %q; the Functions runtime v4 needs \"2.0\"", c.Version)
	}
	if c.CustomHandler.Description.DefaultExecutablePath == "" {
		return HostConfig{}, fmt.Errorf("host.json: customHandler.description.defaultExecutablePath is empty")
	}
	if _, err := c.Timeout(); err != nil {
		return HostConfig{}, err
	}
	if _, err := c.InitTimeout(); err != nil {
		return HostConfig{}, err
	}
	if _, err := c.Extensions.ServiceBus.ConcurrentCalls(); err != nil {
		return HostConfig{}, err
	}
	if _, err := c.Extensions.ServiceBus.LockRenewal(); err != nil {
		return HostConfig{}, err
	}
	return c, nil
}

// RoutePrefix is the prefix of HTTP function routes ("api" unless set).
func (c HostConfig) RoutePrefix() string {
	if c.Extensions.HTTP.RoutePrefix == nil {
		return "api"
	}
	return strings.Trim(*c.Extensions.HTTP.RoutePrefix, "/")
}

// Timeout is functionTimeout; 0 means unbounded ("-1" or unset on Flex).
func (c HostConfig) Timeout() (time.Duration, error) {
	if c.FunctionTimeout == "" || c.FunctionTimeout == "-1" {
		return 0, nil
	}
	d, err := parseTimeSpan(c.FunctionTimeout)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("host.json: functionTimeout %q is not a positive hh:mm:ss time span", c.FunctionTimeout)
	}
	return d, nil
}

// InitTimeout is how long the host waits for the handler's first response
// (the host's default is 30 s).
func (c HostConfig) InitTimeout() (time.Duration, error) {
	v := c.CustomHandler.InitializationTimeout
	if v == "" {
		return 30 * time.Second, nil
	}
	d, err := parseTimeSpan(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("host.json: customHandler.initializationTimeout %q is not a positive hh:mm:ss time span", v)
	}
	return d, nil
}

// parseTimeSpan parses .NET's [d.]hh:mm:ss[.fffffff].
func parseTimeSpan(v string) (time.Duration, error) {
	var days time.Duration
	rest := v
	if dot, colon := strings.IndexByte(v, '.'), strings.IndexByte(v, ':'); dot >= 0 && dot < colon {
		n, err := strconv.Atoi(v[:dot])
		if err != nil {
			return 0, fmt.Errorf("bad days in %q", v)
		}
		days, rest = time.Duration(n)*24*time.Hour, v[dot+1:]
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("%q is not hh:mm:ss", v)
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	s, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || m > 59 || s >= 60 || h < 0 || m < 0 || s < 0 {
		return 0, fmt.Errorf("%q is not hh:mm:ss", v)
	}
	return days + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s*float64(time.Second)), nil
}

// setPath sets tree[path...] = value, matching keys case-insensitively and
// keeping the type of a boolean or number already there.
func setPath(tree map[string]any, path []string, value string) {
	for i, seg := range path {
		key := seg
		for k := range tree {
			if strings.EqualFold(k, seg) {
				key = k
				break
			}
		}
		if i == len(path)-1 {
			tree[key] = typedLike(tree[key], value)
			return
		}
		next, ok := tree[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			tree[key] = next
		}
		tree = next
	}
}

func typedLike(old any, value string) any {
	switch old.(type) {
	case bool:
		if b, err := strconv.ParseBool(value); err == nil {
			return b
		}
	case float64:
		if f, err := strconv.ParseFloat(value, 64); err == nil {
			return f
		}
	}
	return value
}
