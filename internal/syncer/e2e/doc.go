// Package e2e holds the end-to-end tests of the downstream sync: the whole
// connector on a testworld (funchost and the handler binary, Azurite, the
// Service Bus fake, entra-sim, dataverse-sim), seen as the app sees it,
// through the Changes API. They are a package of their own so that they
// run beside the syncer's own tests.
package e2e
