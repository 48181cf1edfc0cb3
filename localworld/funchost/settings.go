package funchost

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// LocalSettings is local.settings.json, as Core Tools reads it.
type LocalSettings struct {
	IsEncrypted bool              `json:"IsEncrypted"`
	Values      map[string]string `json:"Values"`
	Host        struct {
		LocalHTTPPort int `json:"LocalHttpPort"`
	} `json:"Host"`
	ConnectionStrings map[string]string `json:"ConnectionStrings"`
	// Path is the file the settings came from.
	Path string `json:"-"`
}

// LoadLocalSettings reads path, or, if path is "", local.settings.json in
// root and, failing that, local.settings.json.example there.
func LoadLocalSettings(root, path string) (LocalSettings, error) {
	candidates := []string{path}
	if path == "" {
		candidates = []string{filepath.Join(root, "local.settings.json"), filepath.Join(root, "local.settings.json.example")}
	}
	for _, p := range candidates {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) && path == "" {
			continue
		}
		if err != nil {
			return LocalSettings{}, fmt.Errorf("read settings: %w", err)
		}
		var s LocalSettings
		if err := json.Unmarshal(b, &s); err != nil {
			return LocalSettings{}, fmt.Errorf("%s is not valid JSON: %w", p, err)
		}
		if s.IsEncrypted {
			return LocalSettings{}, fmt.Errorf("%s is encrypted (IsEncrypted: true); funchost reads only plain settings", p)
		}
		s.Path = p
		return s, nil
	}
	return LocalSettings{}, fmt.Errorf("no local.settings.json or local.settings.json.example in %s; copy the example and edit it", root)
}

// Settings are the app settings the host and the handler see: the process
// environment over local.settings.json's Values (an exported variable wins,
// so SYNC_SCHEDULE=... funchost overrides the file).
type Settings map[string]string

// MergeSettings layers environ (KEY=VALUE strings) over values.
func MergeSettings(values map[string]string, environ []string) Settings {
	s := Settings{}
	for k, v := range values {
		s[k] = v
	}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			s[k] = v
		}
	}
	return s
}

// Environ returns the settings as KEY=VALUE strings, sorted.
func (s Settings) Environ() []string {
	out := make([]string, 0, len(s))
	for k, v := range s {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Expand replaces %NAME% with the setting NAME, as the host does in binding
// expressions and handler arguments. A name without a value is an error.
func (s Settings) Expand(v string) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(v, '%')
		if i < 0 {
			b.WriteString(v)
			return b.String(), nil
		}
		j := strings.IndexByte(v[i+1:], '%')
		if j < 0 {
			return "", fmt.Errorf("%q has an unmatched %%", v)
		}
		name := v[i+1 : i+1+j]
		val, ok := s[name]
		if !ok || val == "" {
			return "", fmt.Errorf("'%%%s%%' does not resolve to a value; set %s in local.settings.json or the environment", name, name)
		}
		b.WriteString(v[:i])
		b.WriteString(val)
		v = v[i+2+j:]
	}
}
