// Package queue carries the connector's work over Service Bus: the versioned
// JSON messages of the sync-jobs and uploads queues, and a sender that makes
// redelivery and resending harmless (MessageIds derived from the work, so the
// queues' duplicate detection drops a second copy), schedules delayed
// retries and batches large fan-outs.
//
// Receiving is not here: queue-triggered functions get their messages from
// the Functions host (funchost locally), and operators use cmd/connectorctl.
// The Service Bus client comes ready from internal/app, the one place that
// turns settings into clients.
package queue
