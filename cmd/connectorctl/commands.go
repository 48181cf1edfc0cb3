package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/config"
)

// command is one top-level command. New commands add a line to commands.
type command struct {
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
}

var commands = map[string]command{
	"dlq":         {summary: "list, show, resubmit or purge dead-lettered messages of a queue", run: runDLQ},
	"doctor":      {summary: "check every link of the deployment, a tenant or a user's connection", run: runDoctor},
	"tenants":     {summary: "list the organisations, show one's approval, or offboard one (erase all it holds)", run: runTenants},
	"connections": {summary: "list users' connections (status, last sync, reauthorization reasons), or erase one user", run: runConnections},
	"erasures":    {summary: "the audit of completed erasures: when a user or tenant was erased, and what", run: runErasures},
	"sync":        {summary: "sync now: queue a sync of one user", run: runSync},
	"uploads":     {summary: "show a user's uploads and their errors", run: runUploads},
}

func commandNames() string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: connectorctl [--settings local.settings.json] COMMAND [ARGS]")
	fmt.Fprintln(w, "\nCommands:")
	for _, n := range strings.Split(commandNames(), ", ") {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nSettings come from the environment, as for the handler (dlq needs only ServiceBusConnection")
	fmt.Fprintln(w, "or ServiceBusConnection__fullyQualifiedNamespace; the others the handler's settings);")
	fmt.Fprintln(w, "--settings adds a local.settings.json's Values. Every command takes --json; the ones")
	fmt.Fprintln(w, "that delete for good (tenants offboard, connections erase, dlq purge) need --yes.")
	fmt.Fprintln(w, "connectorctl COMMAND --help shows a command's usage.")
	fmt.Fprintln(w, "\nExit status: 0 done (doctor: every check passed), 1 the operation failed or found")
	fmt.Fprintln(w, "problems (doctor: a check failed; an erasure not done when the command stopped),")
	fmt.Fprintln(w, "2 the command line is wrong.")
}

// environment is what commands get from run: settings and output streams.
type environment struct {
	getenv   func(string) string
	settings map[string]string // from --settings; the environment wins
	stdout   io.Writer
	stderr   io.Writer
}

func (e *environment) get(name string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return e.settings[name]
}

func (e *environment) loadSettings(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--settings: %w", err)
	}
	var ls struct {
		Values map[string]string `json:"Values"`
	}
	if err := json.Unmarshal(b, &ls); err != nil {
		return fmt.Errorf("--settings %s is not a local.settings.json: %w", path, err)
	}
	e.settings = ls.Values
	return nil
}

// serviceBus returns a client for the configured namespace.
func (e *environment) serviceBus() (*azservicebus.Client, error) {
	sb, err := config.LoadServiceBus(e.get)
	if err != nil {
		return nil, err
	}
	return new(app.Clients).ServiceBus(sb, nil)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
