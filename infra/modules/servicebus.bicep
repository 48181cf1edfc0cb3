// The Service Bus namespace and its queues. SAS keys are disabled; the app
// sends and receives as its managed identity, with rights on each queue only.
import { roles } from 'roles.bicep'

param name string
param location string
param tags object
@description('Principal of the app\'s identity.')
param principalId string

// Each queue's settings (localworld/servicebus-fake/config.json declares the same
// for the local world; infra/check_test.go keeps them equal). The host renews
// a lock while a function runs; maxDeliveryCount bounds redeliveries before
// the dead-letter queue; duplicate detection makes a resent MessageId
// harmless. A sync job older than an hour is worthless (the scheduler makes a
// new one), so it expires quietly; an upload waits up to 14 days (a rep on a
// long trip) and then goes to the dead-letter queue, never silently away; so
// does an erasure (lifecycle), which must never be lost.
var queues = [
  {
    name: 'sync-jobs'
    lockDuration: 'PT1M'
    maxDeliveryCount: 5
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    deadLetteringOnMessageExpiration: false
    defaultMessageTimeToLive: 'PT1H'
  }
  {
    name: 'uploads'
    lockDuration: 'PT5M'
    maxDeliveryCount: 10
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
  {
    name: 'lifecycle'
    lockDuration: 'PT5M'
    maxDeliveryCount: 10
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
]

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [for q in queues: {
  parent: namespace
  name: q.name
  properties: {
    lockDuration: q.lockDuration
    maxDeliveryCount: q.maxDeliveryCount
    requiresDuplicateDetection: q.requiresDuplicateDetection
    duplicateDetectionHistoryTimeWindow: q.duplicateDetectionHistoryTimeWindow
    deadLetteringOnMessageExpiration: q.deadLetteringOnMessageExpiration
    defaultMessageTimeToLive: q.defaultMessageTimeToLive
    requiresSession: false
    enablePartitioning: false
  }
}]

// Every queue is both consumed (its worker) and fed (the scheduler, the
// intake API, scheduled retries) by the app.
resource receiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (q, i) in queues: {
  scope: queue[i]
  name: guid(queue[i].id, principalId, roles.serviceBusDataReceiver)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (q, i) in queues: {
  scope: queue[i]
  name: guid(queue[i].id, principalId, roles.serviceBusDataSender)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
