// The Pitcher ↔ Dynamics 365 connector: a Flex Consumption Function App (Go
// custom handler) with Storage, Service Bus, Key Vault and Application
// Insights, reached only through a user-assigned managed identity.
// Deploy: see docs/deploy.md (azd up, or make deploy).
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(20)
@description('Short environment name (e.g. prod, test); part of every resource name.')
param environmentName string

@description('Region for every resource.')
param location string = resourceGroup().location

@description('Application (client) ID of the multi-tenant Entra app registration of the connector.')
param entraClientId string

@secure()
@description('A client secret of that app registration. Stored in Key Vault; the app reads it through a Key Vault reference.')
param entraClientSecret string

@secure()
@description('The token-encryption key ring, "id:base64key[,id2:base64key]" with 32-byte keys (see docs/deploy.md). Stored in Key Vault; the app reads it through a Key Vault reference.')
param tokenEncryptionKeys string

@secure()
@description('The key of the users\' pseudonyms in the logs: 32 random bytes in base64 (openssl rand -base64 32). Keep it for the life of the deployment: a new key gives every user a new pseudonym. Stored in Key Vault; the app reads it through a Key Vault reference.')
param logPseudonymKey string

@description('The id of the key in tokenEncryptionKeys that encrypts new tokens; required when the ring has several keys.')
param tokenEncryptionActiveKey string = ''

@description('Entra authority host; the default is this Azure cloud\'s (login.microsoftonline.com in the public cloud).')
param entraAuthorityHost string = environment().authentication.loginEndpoint

@description('The delegated scope the Pitcher app requests for its API tokens (Expose an API).')
param entraApiScope string = 'access_as_user'

@description('Application (client) IDs of the Pitcher apps (iPad, desktop) whose access tokens the API accepts, comma-separated. Empty: only the connector\'s own registration (entraClientId); tokens Entra issued to any other app are refused.')
param apiAllowedClientIds string = ''

@description('Where sign-in may send the browser afterwards: comma-separated absolute URLs (e.g. pitcher://auth). Empty: only the connector\'s own pages.')
param returnToAllowlist string = ''

@description('What meeting reports may write into Dynamics: the UPLOAD_CONFIG JSON document (docs/configuration.md); empty for the defaults (meetings as appointments; accounts by account number and contacts by e-mail, with their everyday columns).')
param uploadConfig string = ''

@description('NCRONTAB schedule (UTC) on which SyncScheduler looks for users due a sync.')
param syncSchedule string = '0 */5 * * * *'

@description('NCRONTAB schedule (UTC) of the daily retention run (docs/privacy.md).')
param retentionSchedule string = '0 30 3 * * *'

@description('How often each user is synced (a Go duration, 1m to 24h); SyncScheduler must run at least this often.')
param syncInterval string = '5m'

@description('Minimum level of the handler\'s logs: debug, info, warn or error.')
@allowed(['debug', 'info', 'warn', 'error'])
param logLevel string = 'info'

@description('Upper bound of Flex Consumption instances.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of one instance, in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = { 'azd-env-name': environmentName, application: 'pitcher-dynamics-connector' }
var appName = 'func-pitcher-${environmentName}-${resourceToken}'
var syncQueueName = 'sync-jobs'
var uploadQueueName = 'uploads'
var lifecycleQueueName = 'lifecycle'
var documentsContainerName = 'documents'

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: 'id-pitcher-${environmentName}-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    workspaceName: 'log-pitcher-${environmentName}-${resourceToken}'
    appInsightsName: 'appi-pitcher-${environmentName}-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: take('stpitcher${resourceToken}', 24)
    location: location
    tags: tags
    deploymentContainerName: 'app-package-${take(resourceToken, 12)}'
    documentsContainerName: documentsContainerName
    principalId: identity.outputs.principalId
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: 'sb-pitcher-${environmentName}-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: take('kv-pitcher-${resourceToken}', 24)
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    entraClientSecret: entraClientSecret
    tokenEncryptionKeys: tokenEncryptionKeys
    logPseudonymKey: logPseudonymKey
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: appName
    planName: 'plan-pitcher-${environmentName}-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}${storage.outputs.deploymentContainerName}'
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    appSettings: {
      AzureWebJobsStorage__blobServiceUri: storage.outputs.blobEndpoint
      AzureWebJobsStorage__queueServiceUri: storage.outputs.queueEndpoint
      AzureWebJobsStorage__tableServiceUri: storage.outputs.tableEndpoint
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identity.outputs.clientId
      ServiceBusConnection__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
      ServiceBusConnection__credential: 'managedidentity'
      ServiceBusConnection__clientId: identity.outputs.clientId
      APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.outputs.clientId};Authorization=AAD'
      SYNC_SCHEDULE: syncSchedule
      SYNC_INTERVAL: syncInterval
      SYNC_QUEUE: syncQueueName
      UPLOAD_QUEUE: uploadQueueName
      LIFECYCLE_QUEUE: lifecycleQueueName
      RETENTION_SCHEDULE: retentionSchedule
      LOG_LEVEL: logLevel
      LOG_PSEUDONYM_KEY: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.logPseudonymKeyUri})'
      ENTRA_CLIENT_ID: entraClientId
      ENTRA_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.entraClientSecretUri})'
      ENTRA_AUTHORITY_HOST: entraAuthorityHost
      ENTRA_APP_ID_URI: 'api://${entraClientId}'
      ENTRA_API_SCOPE: entraApiScope
      API_ALLOWED_CLIENT_IDS: apiAllowedClientIds
      RETURN_TO_ALLOWLIST: returnToAllowlist
      TOKEN_ENCRYPTION_KEYS: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.tokenEncryptionKeysUri})'
      TOKEN_ENCRYPTION_ACTIVE_KEY: tokenEncryptionActiveKey
      UPLOAD_CONFIG: uploadConfig
      UPLOAD_MAX_BODY_BYTES: '33554432'
      UPLOAD_MAX_DOCUMENTS: '10'
      UPLOAD_INLINE_DOCUMENT_BYTES: '4194304'
      UPLOAD_MAX_DELIVERY_COUNT: '10'
      DOCUMENTS_CONTAINER: documentsContainerName
    }
  }
}

@description('The Function App\'s name.')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name

@description('The Function App\'s base URL; the app-facing API is under /api/.')
output AZURE_FUNCTION_APP_URL string = functionApp.outputs.url

@description('Redirect URIs to register (platform: Web) on the Entra app registration.')
output ENTRA_REDIRECT_URIS array = [
  '${functionApp.outputs.url}/api/auth/callback'
  '${functionApp.outputs.url}/api/consent/callback'
]
