// Package config reads and validates the handler's settings.
//
// Settings are read once, at start-up, through an injected getenv. Load
// reports every problem at once, each naming the setting and the fix, so an
// operator can correct a deployment in one pass.
package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Config is the handler's validated configuration.
type Config struct {
	// Port is where the Functions host expects the handler (FUNCTIONS_CUSTOMHANDLER_PORT).
	Port int
	// Storage is how to reach Table and Blob Storage (AzureWebJobsStorage).
	Storage Storage
	// ServiceBus is how to reach the Service Bus namespace (ServiceBusConnection).
	ServiceBus ServiceBus
	// SyncQueue and UploadQueue are the Service Bus queue names.
	SyncQueue   string
	UploadQueue string
	// LogLevel is the minimum level logged to stdout.
	LogLevel slog.Level
	// ShutdownTimeout bounds how long in-flight invocations may drain on SIGTERM.
	ShutdownTimeout time.Duration
	// SyncTuning says how often and how much the sync works.
	SyncTuning SyncTuning
	// Entra holds sign-in, consent, token-vault and API-authentication settings.
	Entra Entra
	// Uploads holds the upload pipeline's settings.
	Uploads Uploads
	// Ops holds the observability and diagnostics settings.
	Ops Ops
	// Lifecycle holds the erasure and retention settings.
	Lifecycle Lifecycle
}

// Setting names read by Load.
const (
	SettingPort            = "FUNCTIONS_CUSTOMHANDLER_PORT"
	SettingStorage         = "AzureWebJobsStorage"
	SettingServiceBus      = "ServiceBusConnection"
	SettingSyncQueue       = "SYNC_QUEUE"
	SettingUploadQueue     = "UPLOAD_QUEUE"
	SettingLogLevel        = "LOG_LEVEL"
	SettingShutdownTimeout = "SHUTDOWN_TIMEOUT"
	SettingSyncConfig      = "SYNC_CONFIG"
	SettingTablePrefix     = "STORAGE_TABLE_PREFIX"
)

// Problem is one setting that is wrong, and how to fix it.
type Problem struct {
	Setting string `json:"setting"`
	Message string `json:"message"`
}

func (p Problem) String() string { return p.Setting + ": " + p.Message }

// Error lists every problem found in the settings.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration: %d problem(s); fix these settings (app settings in Azure, local.settings.json locally) and start again:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Load reads the settings through getenv and validates them. The error, if
// any, is an *Error listing every problem.
func Load(getenv func(string) string) (Config, error) { return load(getenv, true) }

// LoadTool reads the handler's settings for a tool that works on the same
// deployment from outside the Functions host (connectorctl): every setting
// but FUNCTIONS_CUSTOMHANDLER_PORT, which only the host sets (Port is 0).
func LoadTool(getenv func(string) string) (Config, error) { return load(getenv, false) }

func load(getenv func(string) string, handler bool) (Config, error) {
	r := reader{getenv: getenv}
	var port int
	if handler {
		port = r.port(SettingPort)
	}
	c := Config{
		Port:            port,
		Storage:         r.storage(SettingStorage),
		ServiceBus:      r.serviceBus(SettingServiceBus),
		SyncQueue:       r.queueName(SettingSyncQueue, "sync-jobs"),
		UploadQueue:     r.queueName(SettingUploadQueue, "uploads"),
		LogLevel:        r.logLevel(SettingLogLevel),
		ShutdownTimeout: r.duration(SettingShutdownTimeout, 30*time.Second, time.Second, 10*time.Minute),
		SyncTuning:      r.syncTuning(),
		Entra:           r.entra(),
		Uploads:         r.uploads(),
		Ops:             r.ops(),
		Lifecycle:       r.lifecycle(),
	}
	c.Storage.TablePrefix = r.tablePrefix(SettingTablePrefix)
	if c.SyncQueue != "" && c.SyncQueue == c.UploadQueue {
		r.problem(SettingUploadQueue, "must differ from %s (%q); sync jobs and uploads need their own queues", SettingSyncQueue, c.SyncQueue)
	}
	if q := c.Lifecycle.Queue; q != "" && (q == c.SyncQueue || q == c.UploadQueue) {
		r.problem(SettingLifecycleQueue, "must differ from %s and %s (%q); erasures need a queue of their own", SettingSyncQueue, SettingUploadQueue, q)
	}
	if len(r.problems) > 0 {
		return Config{}, &Error{Problems: r.problems}
	}
	return c, nil
}

// reader collects problems while reading settings.
type reader struct {
	getenv   func(string) string
	problems []Problem
}

func (r *reader) get(name string) string { return strings.TrimSpace(r.getenv(name)) }

func (r *reader) problem(name, format string, args ...any) {
	r.problems = append(r.problems, Problem{Setting: name, Message: fmt.Sprintf(format, args...)})
}

func (r *reader) port(name string) int {
	v := r.get(name)
	if v == "" {
		r.problem(name, "missing; the Functions host sets it when it starts the handler (run the app through func start or funchost, or set it to a free TCP port)")
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		r.problem(name, "%q is not a TCP port; use a number from 1 to 65535", v)
		return 0
	}
	return n
}

func (r *reader) queueName(name, example string) string {
	v := r.get(name)
	if v == "" {
		r.problem(name, "missing; set it to the Service Bus queue name, e.g. %s", example)
		return ""
	}
	if err := validQueueName(v); err != "" {
		r.problem(name, "%q %s", v, err)
		return ""
	}
	return v
}

// validQueueName applies Service Bus' entity naming rules and returns what is
// wrong, or "".
func validQueueName(v string) string {
	if len(v) > 260 {
		return "is longer than 260 characters"
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !alnum(c) && c != '-' && c != '.' && c != '_' && c != '/' {
			return "may contain only letters, digits, '-', '.', '_' and '/'"
		}
	}
	if !alnum(v[0]) || !alnum(v[len(v)-1]) {
		return "must start and end with a letter or digit"
	}
	return ""
}

func (r *reader) logLevel(name string) slog.Level {
	v := strings.ToLower(r.get(name))
	switch v {
	case "", "info":
		return slog.LevelInfo
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	r.problem(name, "%q is not a log level; use debug, info, warn or error", v)
	return slog.LevelInfo
}

func (r *reader) duration(name string, def, lo, hi time.Duration) time.Duration {
	v := r.get(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		r.problem(name, "%q is not a duration from %s to %s; write it like 30s or 2m", v, lo, hi)
		return def
	}
	return d
}

// LoadServiceBus reads only the Service Bus connection settings
// (ServiceBusConnection or ServiceBusConnection__fullyQualifiedNamespace),
// with the same checks as Load, for tools such as connectorctl that need
// nothing else.
func LoadServiceBus(getenv func(string) string) (ServiceBus, error) {
	r := reader{getenv: getenv}
	sb := r.serviceBus(SettingServiceBus)
	if len(r.problems) > 0 {
		return ServiceBus{}, &Error{Problems: r.problems}
	}
	return sb, nil
}

// tablePrefix reads the optional prefix of table names: table names are
// letters and digits starting with a letter, and the longest of the
// connector's must stay within 63 characters.
func (r *reader) tablePrefix(name string) string {
	v := r.get(name)
	if v == "" {
		return ""
	}
	ok := len(v) <= 32 && (v[0] >= 'a' && v[0] <= 'z' || v[0] >= 'A' && v[0] <= 'Z')
	for i := 0; i < len(v) && ok; i++ {
		c := v[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	if !ok {
		r.problem(name, "%q is not a table name prefix: up to 32 letters and digits, starting with a letter", v)
		return ""
	}
	return v
}
