// Key Vault (RBAC) holding the app's secrets; the app reads each one through
// a Key Vault reference, with read rights on that secret only.
import { roles } from 'roles.bicep'

param name string
param location string
param tags object
@description('Principal of the app\'s identity.')
param principalId string
@secure()
param entraClientSecret string
@secure()
param tokenEncryptionKeys string
@secure()
param logPseudonymKey string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }

  resource clientSecret 'secrets' = {
    name: 'entra-client-secret'
    properties: { value: entraClientSecret }
  }

  resource tokenKeys 'secrets' = {
    name: 'token-encryption-keys'
    properties: { value: tokenEncryptionKeys }
  }

  resource pseudonymKey 'secrets' = {
    name: 'log-pseudonym-key'
    properties: { value: logPseudonymKey }
  }
}

resource clientSecretReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault::clientSecret
  name: guid(vault::clientSecret.id, principalId, roles.keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource tokenKeysReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault::tokenKeys
  name: guid(vault::tokenKeys.id, principalId, roles.keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource pseudonymKeyReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault::pseudonymKey
  name: guid(vault::pseudonymKey.id, principalId, roles.keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Unversioned URIs: a new secret version is picked up without redeploying.
output entraClientSecretUri string = vault::clientSecret.properties.secretUri
output tokenEncryptionKeysUri string = vault::tokenKeys.properties.secretUri
output logPseudonymKeyUri string = vault::pseudonymKey.properties.secretUri
