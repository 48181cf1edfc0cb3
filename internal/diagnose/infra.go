package diagnose

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/pitcher/connector/internal/store"
)

// ErrMissing is what a probe returns, wrapped, for a table, container or
// queue that does not exist.
var ErrMissing = errors.New("does not exist")

func (d *Doctor) storageChecks(r *run) {
	r.checkInfra(IDStorageTab, "Storage tables reachable", []string{IDConfig}, func(ctx context.Context) result {
		errs := make([]error, len(d.Tables))
		var wg sync.WaitGroup
		for i, t := range d.Tables {
			wg.Go(func() { errs[i] = d.Storage.ProbeTable(ctx, t) })
		}
		wg.Wait()
		var missing, broken []string
		for i, err := range errs {
			switch {
			case errors.Is(err, ErrMissing) || errors.Is(err, store.ErrNotFound):
				missing = append(missing, d.Tables[i])
			case err != nil:
				broken = append(broken, fmt.Sprintf("%s: %v", d.Tables[i], err))
			}
		}
		switch {
		case len(broken) > 0:
			return fail("Table Storage at "+d.Storage.Where()+" did not answer: "+broken[0], storageFix)
		case len(missing) > 0:
			return fail("missing table(s): "+strings.Join(missing, ", "), "the handler creates its tables when it starts: restart the Function App, and check that its identity has the Storage Table Data Contributor role")
		}
		return pass("%d tables readable at %s", len(d.Tables), d.Storage.Where())
	})
	r.checkInfra(IDStorageBlob, "Storage containers reachable", []string{IDConfig}, func(ctx context.Context) result {
		var found []string
		for _, c := range d.Containers {
			err := d.Storage.ProbeContainer(ctx, c.Name)
			switch {
			case errors.Is(err, ErrMissing) && c.CreatedOnDemand:
				found = append(found, c.Name+" (not created yet; made when first needed)")
			case errors.Is(err, ErrMissing):
				return fail("blob container "+c.Name+" does not exist", "the infrastructure (infra/main.bicep) creates it in Azure and the handler locally: redeploy, or create it, and check DOCUMENTS_CONTAINER")
			case err != nil:
				return fail("Blob Storage at "+d.Storage.Where()+" did not answer: "+c.Name+": "+err.Error(), storageFix)
			default:
				found = append(found, c.Name)
			}
		}
		return pass("containers: %s", strings.Join(found, ", "))
	})
}

const storageFix = "check AzureWebJobsStorage (or its __tableServiceUri/__blobServiceUri and __clientId in Azure), that the storage account exists and its firewall lets the Function App in, and that the app's identity has the Storage Table and Blob Data Contributor roles"

func (d *Doctor) queueChecks(r *run) {
	for _, q := range d.QueueList {
		r.checkInfra(IDQueue(q.Role), "Service Bus queue "+q.Name+" reachable", []string{IDConfig}, func(ctx context.Context) result {
			err := d.Queues.Peek(ctx, q.Name)
			switch {
			case errors.Is(err, ErrMissing):
				return fail("queue "+q.Name+" does not exist in "+d.Queues.Where(), "create it (infra/main.bicep does in Azure) or correct "+q.Setting)
			case err != nil:
				return fail("Service Bus at "+d.Queues.Where()+" did not answer for "+q.Name+": "+err.Error(),
					"check ServiceBusConnection (or ServiceBusConnection__fullyQualifiedNamespace and __clientId in Azure), the namespace's network rules, and that the app's identity has the Azure Service Bus Data Sender and Receiver roles")
			}
			return pass("queue %s answers", q.Name)
		})
		if r.own {
			// Dead letters are anyone's: a user's own report neither
			// counts nor peeks at them (their own dead-lettered uploads
			// are in the uploads check).
			continue
		}
		r.check(IDDeadLetters(q.Role), "Dead letters of "+q.Name, []string{IDQueue(q.Role)}, func(ctx context.Context) result {
			n, err := d.Queues.DeadLetters(ctx, q.Name, maxDeadLetters)
			switch {
			case err != nil:
				return fail("could not count the dead letters of "+q.Name+": "+err.Error(), "check the Service Bus connection (see the check above)")
			case n >= maxDeadLetters:
				return fail(fmt.Sprintf("at least %d dead-lettered messages in %s", n, q.Name), deadLetterFix(q.Name))
			case n > 0:
				return fail(fmt.Sprintf("%d dead-lettered message(s) in %s", n, q.Name), deadLetterFix(q.Name))
			}
			return pass("no dead-lettered messages")
		})
	}
}

func deadLetterFix(q string) string {
	return "see why with connectorctl dlq list --queue " + q + "; after fixing the cause, connectorctl dlq resubmit --queue " + q + " --all (or purge --all --yes what must not run)"
}
