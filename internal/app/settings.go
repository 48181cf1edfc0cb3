package app

import (
	"errors"
	"strings"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/syncconfig"
	"github.com/pitcher/connector/internal/uploadconfig"
)

// Settings are the handler's validated settings: config's, and the two
// settings whose value is a JSON document of an engine's shape, parsed by
// the package that owns that shape.
type Settings struct {
	config.Config
	// Sync says what the downstream sync copies (SYNC_CONFIG, or the defaults).
	Sync syncconfig.Config
	// Allow says what meeting reports may write (UPLOAD_CONFIG, or the defaults).
	Allow uploadconfig.Config
}

// Load reads and validates the handler's settings through getenv. The
// error, if any, is a *config.Error listing every problem at once, those of
// SYNC_CONFIG and UPLOAD_CONFIG included.
func Load(getenv func(string) string) (Settings, error) { return load(getenv, config.Load) }

// LoadTool is Load for a tool that works on the same deployment from
// outside the Functions host (config.LoadTool).
func LoadTool(getenv func(string) string) (Settings, error) {
	return load(getenv, config.LoadTool)
}

func load(getenv func(string) string, loadConfig func(func(string) string) (config.Config, error)) (Settings, error) {
	cfg, err := loadConfig(getenv)
	var problems []config.Problem
	var ce *config.Error
	switch {
	case errors.As(err, &ce):
		problems = ce.Problems
	case err != nil:
		return Settings{}, err
	}
	s := Settings{Config: cfg}
	var p []config.Problem
	s.Sync, p = document(getenv, config.SettingSyncConfig, syncconfig.Parse)
	problems = append(problems, p...)
	s.Allow, p = document(getenv, config.SettingUploadConfig, uploadconfig.Parse)
	problems = append(problems, p...)
	if len(problems) > 0 {
		return Settings{}, &config.Error{Problems: problems}
	}
	return s, nil
}

// document parses the JSON setting name with parse, naming each problem's
// field under the setting (SYNC_CONFIG.entitySets[0].select).
func document[T any](getenv func(string) string, name string, parse func(string) (T, error)) (T, []config.Problem) {
	v, err := parse(strings.TrimSpace(getenv(name)))
	if err == nil {
		return v, nil
	}
	e, ok := apperr.As(err)
	if !ok || len(e.Problems) == 0 {
		return v, []config.Problem{{Setting: name, Message: err.Error()}}
	}
	problems := make([]config.Problem, len(e.Problems))
	for i, p := range e.Problems {
		problems[i] = config.Problem{Setting: name + "." + p.Field, Message: p.Message}
	}
	return v, problems
}
