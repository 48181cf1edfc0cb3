package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/store"
)

const uploadsUsage = `usage:
  connectorctl uploads show --user U [--tenant T] [--id UPLOAD] [--status S] [--json]

Lists the user's uploads (newest first), or shows one with --id. --status
keeps one state: queued, processing, done, retrying, parked, failed,
dead_lettered or cancelled.`

// uploadJSON is an upload as the commands print it.
type uploadJSON struct {
	UploadID    string     `json:"uploadId"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	CreatedAt   *time.Time `json:"createdAt,omitempty"`
	UpdatedAt   *time.Time `json:"updatedAt,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	NextAttempt *time.Time `json:"nextAttemptAt,omitempty"`
	ErrorCode   string     `json:"errorCode,omitempty"`
	ErrorStatus int        `json:"errorHttpStatus,omitempty"`
	ErrorItem   string     `json:"errorItem,omitempty"`
	Error       string     `json:"error,omitempty"`
	Records     string     `json:"records,omitempty"`
	Conflicts   string     `json:"conflicts,omitempty"`
}

var uploadStatuses = map[string]bool{store.UploadQueued: true, store.UploadProcessing: true, store.UploadDone: true, store.UploadRetrying: true,
	store.UploadParked: true, store.UploadFailed: true, store.UploadConflict: true, store.UploadDeadLettered: true, store.UploadCancelled: true}

func runUploads(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || args[0] != "show" {
		return usagef("uploads needs the subcommand show\n%s", uploadsUsage)
	}
	f := newFlags("uploads show", uploadsUsage)
	tenant := f.String("tenant", "", "the organisation's Entra tenant id")
	user := f.String("user", "", "the user's Entra object id")
	id := f.String("id", "", "one upload's id")
	status := f.String("status", "", "only uploads in this state")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	tid, err := guid("uploads show", "tenant", *tenant, false)
	if err != nil {
		return err
	}
	uid, err := guid("uploads show", "user", *user, true)
	if err != nil {
		return err
	}
	if *status != "" && !uploadStatuses[*status] {
		return usagef("uploads show: --status %q is not queued, processing, done, retrying, parked, failed, conflict, dead_lettered or cancelled", *status)
	}
	return env.withApp(ctx, func(cfg app.Settings, a *app.App) error {
		if tid == "" {
			if tid, err = tenantOfUser(ctx, a, "uploads show", uid); err != nil {
				return err
			}
		}
		rows := store.NewUploads(a.DB)
		var ups []store.Upload
		if *id != "" {
			up, err := rows.Get(ctx, tid, uid, *id)
			if errors.Is(err, store.ErrNotFound) {
				return failedf("user %s of tenant %s has no upload %q (connectorctl uploads show without --id lists them)", uid, tid, *id)
			}
			if err != nil {
				return err
			}
			ups = []store.Upload{up}
		} else if ups, err = rows.List(ctx, tid, uid); err != nil {
			return err
		}
		out := []uploadJSON{}
		for _, u := range ups {
			if *status != "" && u.Status != *status {
				continue
			}
			out = append(out, uploadJSON{UploadID: u.UploadID, Status: u.Status, Attempts: u.Attempts, CreatedAt: timePtr(u.CreatedAt),
				UpdatedAt: timePtr(u.UpdatedAt), CompletedAt: timePtr(u.CompletedAt), NextAttempt: timePtr(u.NextAttemptAt),
				ErrorCode: u.ErrorCode, ErrorStatus: u.ErrorStatus, ErrorItem: u.ErrorItem, Error: u.ErrorMessage, Records: u.Records, Conflicts: u.Conflicts})
		}
		sort.Slice(out, func(i, j int) bool { return when(out[i].CreatedAt) > when(out[j].CreatedAt) })
		if f.json {
			if *id != "" {
				return writeJSON(env.stdout, out[0])
			}
			return writeJSON(env.stdout, out)
		}
		if *id != "" {
			return printUpload(env, out[0])
		}
		if len(out) == 0 {
			_, err := fmt.Fprintln(env.stdout, "No uploads match.")
			return err
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "UPLOAD\tSTATUS\tATTEMPTS\tCREATED (UTC)\tUPDATED (UTC)\tERROR")
		for _, u := range out {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", u.UploadID, u.Status, u.Attempts, when(u.CreatedAt), when(u.UpdatedAt), dash(clip(errText(u), 60)))
		}
		return tw.Flush()
	})
}

func errText(u uploadJSON) string {
	if u.ErrorCode == "" && u.Error == "" {
		return ""
	}
	return u.ErrorCode + " " + u.Error
}

func printUpload(env *environment, u uploadJSON) error {
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, dash(v)) }
	row("Upload", u.UploadID)
	row("Status", u.Status)
	row("Attempts", strconv.Itoa(u.Attempts))
	row("Created (UTC)", when(u.CreatedAt))
	row("Updated (UTC)", when(u.UpdatedAt))
	row("Completed (UTC)", when(u.CompletedAt))
	row("Next attempt (UTC)", when(u.NextAttempt))
	row("Error", errText(u))
	if u.ErrorStatus != 0 {
		row("Dataverse status", strconv.Itoa(u.ErrorStatus))
	}
	row("Error item", u.ErrorItem)
	row("Records", u.Records)
	return tw.Flush()
}
