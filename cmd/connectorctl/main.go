// Command connectorctl is the connector's operations tool.
//
//	connectorctl [--settings FILE] COMMAND [ARGS]
//
// It reads its connection settings like the handler does (environment
// variables such as ServiceBusConnection; --settings adds the Values of a
// local.settings.json under them). Exit status: 0 done, 1 the operation
// failed or found problems (doctor: a check failed; tenants offboard and
// connections erase: the erasure was not done when the command stopped), 2
// the command line is wrong.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "connectorctl:", err)
		os.Exit(exitCode(err))
	}
}

// usageError is a wrong command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

func exitCode(err error) int {
	var u *usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// run executes one command line. stdout gets the command's output, stderr
// the help text.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := &environment{getenv: getenv, stdout: stdout, stderr: stderr}
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		switch {
		case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
			printUsage(stderr)
			return nil
		case args[0] == "--settings" && len(args) > 1:
			if err := env.loadSettings(args[1]); err != nil {
				return err
			}
			args = args[2:]
		default:
			return usagef("unknown option %q; see connectorctl --help", args[0])
		}
	}
	if len(args) == 0 {
		printUsage(stderr)
		return usagef("no command given")
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return usagef("unknown command %q; the commands are %s", args[0], commandNames())
	}
	return cmd.run(ctx, env, args[1:])
}
