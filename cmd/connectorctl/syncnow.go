package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
)

const syncUsage = `usage:
  connectorctl sync now --user U [--tenant T] [--json]

Queues a sync of the user's Dynamics data now, through the sync-jobs queue
as the scheduler does; the SyncWorker runs it. --tenant is needed only when
the user is connected in several tenants. Jobs sent within the same
second share a MessageId, so a repeated command within it sends one job.`

func runSync(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || args[0] != "now" {
		return usagef("sync needs the subcommand now\n%s", syncUsage)
	}
	f := newFlags("sync now", syncUsage)
	tenant := f.String("tenant", "", "the organisation's Entra tenant id")
	user := f.String("user", "", "the user's Entra object id")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	tid, err := guid("sync now", "tenant", *tenant, false)
	if err != nil {
		return err
	}
	uid, err := guid("sync now", "user", *user, true)
	if err != nil {
		return err
	}
	return env.withApp(ctx, func(cfg app.Settings, a *app.App) error {
		if tid == "" {
			if tid, err = tenantOfUser(ctx, a, "sync now", uid); err != nil {
				return err
			}
		}
		c, err := store.NewConnections(a.DB).Get(ctx, tid, uid)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return failedf("user %s of tenant %s has not connected Dynamics; nothing to sync (connectorctl connections list --tenant %s)", uid, tid, tid)
		case err != nil:
			return err
		case c.Status != store.StatusActive:
			return failedf("the connection is %s (%s): the user must sign in again before it can sync", c.Status, dash(c.StatusReason))
		}
		job := queue.NewSyncJob(tid, uid, queue.ReasonManual, time.Now())
		if err := a.Queues.SyncJobs.Send(ctx, job); err != nil {
			return err
		}
		if f.json {
			return writeJSON(env.stdout, map[string]any{"queued": true, "queue": cfg.SyncQueue, "messageId": job.MessageID(), "job": job})
		}
		_, err = fmt.Fprintf(env.stdout, "Queued a sync of user %s of tenant %s on %s (message %s).\nconnectorctl connections list --tenant %s shows its last sync once it ran.\n", uid, tid, cfg.SyncQueue, job.MessageID(), tid)
		return err
	})
}
