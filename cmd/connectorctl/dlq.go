package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
)

const dlqUsage = `usage:
  connectorctl dlq list     --queue NAME [--max N] [--json]
  connectorctl dlq show     --queue NAME --seq N [--json]
  connectorctl dlq resubmit --queue NAME (--seq N[,N...] | --all) [--json]
  connectorctl dlq purge    --queue NAME (--seq N[,N...] | --all) --yes [--json]

NAME is a queue's name, or sync, uploads or lifecycle for the queue the
setting SYNC_QUEUE, UPLOAD_QUEUE or LIFECYCLE_QUEUE names (when it is set).
With the handler's settings (not only ServiceBusConnection), list and show
mark a message whose user no longer has a connection, or whose tenant is
unknown or being offboarded: it belongs to an erasure (purge it).`

// queueRoles are the --queue names that stand for the queue a setting
// names.
var queueRoles = map[string]string{"sync": config.SettingSyncQueue, "uploads": config.SettingUploadQueue, "lifecycle": config.SettingLifecycleQueue}

// dlqFlags are the flags of the dlq subcommands.
type dlqFlags struct {
	queue string
	max   int
	seqs  []int64
	all   bool
	yes   bool
	json  bool
}

func parseDLQFlags(sub string, args []string) (dlqFlags, error) {
	var f dlqFlags
	var seqs string
	fs := flag.NewFlagSet("dlq "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.queue, "queue", "", "the queue whose dead-letter queue to use")
	fs.IntVar(&f.max, "max", 100, "list at most this many messages")
	fs.StringVar(&seqs, "seq", "", "sequence number(s), comma-separated")
	fs.BoolVar(&f.all, "all", false, "every dead-lettered message")
	fs.BoolVar(&f.yes, "yes", false, "confirm that purged messages are deleted for good")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return f, usagef("dlq %s: %v\n%s", sub, err, dlqUsage)
	}
	if fs.NArg() > 0 {
		return f, usagef("dlq %s: unexpected arguments %q\n%s", sub, fs.Args(), dlqUsage)
	}
	if f.queue == "" {
		return f, usagef("dlq %s: --queue is required (for example --queue uploads, --queue lifecycle)", sub)
	}
	if f.max < 1 {
		return f, usagef("dlq %s: --max must be at least 1", sub)
	}
	for _, s := range strings.Split(seqs, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return f, usagef("dlq %s: --seq %q is not a sequence number (see dlq list)", sub, s)
		}
		f.seqs = append(f.seqs, n)
	}
	return f, nil
}

func runDLQ(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(env.stderr, dlqUsage)
		if len(args) == 0 {
			return usagef("dlq needs a subcommand: list, show, resubmit or purge")
		}
		return nil
	}
	sub := args[0]
	f, err := parseDLQFlags(sub, args[1:])
	if err != nil {
		return err
	}
	switch sub {
	case "list", "show":
	case "resubmit", "purge":
		if f.all == (len(f.seqs) > 0) {
			return usagef("dlq %s: give either --seq N[,N...] or --all", sub)
		}
		if sub == "purge" && !f.yes {
			return usagef("dlq purge deletes messages for good; add --yes to confirm")
		}
	default:
		return usagef("dlq: unknown subcommand %q; use list, show, resubmit or purge", sub)
	}
	if sub == "show" && len(f.seqs) != 1 {
		return usagef("dlq show: give one --seq N (see dlq list)")
	}
	if setting, ok := queueRoles[f.queue]; ok {
		if name := strings.TrimSpace(env.get(setting)); name != "" {
			f.queue = name
		}
	}
	client, err := env.serviceBus()
	if err != nil {
		return err
	}
	defer client.Close(context.WithoutCancel(ctx))
	dl := queue.NewDeadLetters(client, f.queue)
	switch sub {
	case "list":
		msgs, err := dl.List(ctx, f.max)
		if err != nil {
			return err
		}
		notes := env.ownerNotes(ctx, msgs)
		if f.json {
			return writeJSON(env.stdout, jsonList(msgs, notes))
		}
		return printList(env.stdout, f.queue, msgs, notes)
	case "show":
		m, ok, err := dl.Get(ctx, f.seqs[0])
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no message with sequence number %d in the dead-letter queue of %s (see dlq list)", f.seqs[0], f.queue)
		}
		note := env.ownerNotes(ctx, []queue.DeadLetter{m})[m.SequenceNumber]
		if f.json {
			out := jsonMessage(m, true)
			if note != "" {
				out["note"] = note
			}
			return writeJSON(env.stdout, out)
		}
		return printMessage(env.stdout, m, note)
	case "resubmit":
		done, err := dl.Resubmit(ctx, f.seqs)
		report(env, f, "resubmitted", "to "+f.queue, done)
		return err
	default: // purge
		done, err := dl.Purge(ctx, f.seqs)
		report(env, f, "purged", "for good", done)
		return err
	}
}

func report(env *environment, f dlqFlags, verb, where string, done []queue.Outcome) {
	if f.json {
		if done == nil {
			done = []queue.Outcome{}
		}
		_ = writeJSON(env.stdout, map[string]any{verb: len(done), "messages": done})
		return
	}
	fmt.Fprintf(env.stdout, "%s %d message(s) from the dead-letter queue of %s %s\n", verb, len(done), f.queue, where)
	for _, o := range done {
		if o.NewMessageID != "" {
			fmt.Fprintf(env.stdout, "  seq %d  %s -> %s\n", o.SequenceNumber, o.MessageID, o.NewMessageID)
		} else {
			fmt.Fprintf(env.stdout, "  seq %d  %s\n", o.SequenceNumber, o.MessageID)
		}
	}
}

// printList prints the messages; with notes (nil: the owners could not
// be looked up) a NOTE column marks those of erased users and tenants.
func printList(w io.Writer, q string, msgs []queue.DeadLetter, notes map[int64]string) error {
	if len(msgs) == 0 {
		_, err := fmt.Fprintf(w, "The dead-letter queue of %s is empty.\n", q)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "SEQ\tENQUEUED (UTC)\tDELIVERIES\tMESSAGE ID\tREASON\tDESCRIPTION"
	if notes != nil {
		header += "\tNOTE"
	}
	fmt.Fprintln(tw, header)
	for _, m := range msgs {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s", m.SequenceNumber, m.EnqueuedTime.Format("2006-01-02 15:04:05"), m.DeliveryCount, m.MessageID, m.Reason, clip(m.Description, 60))
		if notes != nil {
			fmt.Fprintf(tw, "\t%s", dash(notes[m.SequenceNumber]))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func printMessage(w io.Writer, m queue.DeadLetter, note string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("Sequence number", strconv.FormatInt(m.SequenceNumber, 10))
	row("Message ID", m.MessageID)
	row("Subject", m.Subject)
	row("Content type", m.ContentType)
	row("Enqueued (UTC)", m.EnqueuedTime.Format(time.RFC3339))
	row("Deliveries", strconv.FormatUint(uint64(m.DeliveryCount), 10))
	row("Dead-letter reason", m.Reason)
	row("Description", m.Description)
	row("Source", m.Source)
	row("Note", note)
	keys := make([]string, 0, len(m.ApplicationProperties))
	for k := range m.ApplicationProperties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		row("Property "+k, fmt.Sprint(m.ApplicationProperties[k]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "Body (%d bytes):\n%s\n", len(m.Body), bodyText(m.Body))
	return err
}

// bodyText is the body indented when it is JSON, else as text.
func bodyText(b []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "  ", "  ") == nil {
		return "  " + buf.String()
	}
	return "  " + strconv.Quote(string(b))
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func jsonList(msgs []queue.DeadLetter, notes map[int64]string) []map[string]any {
	out := make([]map[string]any, 0, len(msgs))
	for _, m := range msgs {
		j := jsonMessage(m, false)
		if n := notes[m.SequenceNumber]; n != "" {
			j["note"] = n
		}
		out = append(out, j)
	}
	return out
}

// ownerNotes marks, by sequence number, the messages whose user has no
// connection (erased, or disconnected) or is being erased, and those whose
// tenant is unknown (offboarded) or being offboarded: what an erasure left
// or what arrived after it. It needs the handler's settings (Storage); it
// returns nil without them, and "" for messages that name nobody or whose
// owner is connected.
func (e *environment) ownerNotes(ctx context.Context, msgs []queue.DeadLetter) map[int64]string {
	if len(msgs) == 0 {
		return nil
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return nil
	}
	a, closeApp, err := e.openApp(ctx, cfg)
	if err != nil {
		return nil
	}
	defer closeApp()
	tenants, conns := store.NewTenants(a.DB), store.NewConnections(a.DB)
	seen := map[string]string{}
	note := func(tenant, user string) string {
		key := tenant + "|" + user
		if n, ok := seen[key]; ok {
			return n
		}
		n := ""
		t, terr := tenants.Get(ctx, tenant)
		switch {
		case terr == nil && !t.OffboardingAt.IsZero():
			n = "tenant being offboarded"
		case user != "":
			c, err := conns.Get(ctx, tenant, user)
			switch {
			case errors.Is(err, store.ErrNotFound):
				n = "erased user: no connection"
			case err == nil && c.Status == store.StatusErasing:
				n = "user being erased"
			}
		case errors.Is(terr, store.ErrNotFound):
			if known, err := tenantKnown(ctx, a, tenant); err == nil && !known {
				n = "offboarded tenant: unknown"
			}
		}
		seen[key] = n
		return n
	}
	out := map[int64]string{}
	for _, m := range msgs {
		var body struct {
			TenantID string `json:"tenantId"`
			UserID   string `json:"userId"`
		}
		if json.Unmarshal(m.Body, &body) != nil || !entra.IsGUID(body.TenantID) || (body.UserID != "" && !entra.IsGUID(body.UserID)) {
			continue
		}
		out[m.SequenceNumber] = note(strings.ToLower(body.TenantID), strings.ToLower(body.UserID))
	}
	return out
}

// jsonMessage is m as JSON; with body, the body is included as JSON when it
// is JSON and as text otherwise.
func jsonMessage(m queue.DeadLetter, body bool) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	if body {
		if json.Valid(m.Body) {
			out["body"] = json.RawMessage(m.Body)
		} else {
			out["body"] = string(m.Body)
		}
	}
	return out
}
