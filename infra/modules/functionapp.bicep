// The Flex Consumption plan and the Function App running the Go custom
// handler. The package is deployed to a blob container the app reads with
// its managed identity.
param name string
param planName string
param location string
param tags object
@description('Resource ID of the user-assigned identity.')
param identityId string
@description('URL of the blob container that holds the deployment package.')
param deploymentContainerUrl string
param maximumInstanceCount int
param instanceMemoryMB int
@description('App settings: identity-based connections and the app\'s own settings. No secret values: secrets are Key Vault references.')
param appSettings object

// Settings only this module can know: the app's own public URL, from which
// the app derives the redirect URIs it sends to Entra.
var derivedSettings = {
  PUBLIC_BASE_URL: 'https://${app.properties.defaultHostName}'
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'connector' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: { name: 'custom', version: '1.0' }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: union(appSettings, derivedSettings)
  }
}

output name string = app.name
output url string = 'https://${app.properties.defaultHostName}'
