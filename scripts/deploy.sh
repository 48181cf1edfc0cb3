#!/usr/bin/env bash
# The manual path (docs/deploy.md): provision infra/main.bicep into a resource
# group with the Azure CLI, then upload the package built by `make package`.
# Needs: az (logged in), AZURE_RESOURCE_GROUP, AZURE_ENV_NAME, ENTRA_CLIENT_ID,
# ENTRA_CLIENT_SECRET, TOKEN_ENCRYPTION_KEYS, LOG_PSEUDONYM_KEY; takes
# API_ALLOWED_CLIENT_IDS (the Pitcher apps' client ids) when set.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for v in AZURE_RESOURCE_GROUP AZURE_ENV_NAME ENTRA_CLIENT_ID ENTRA_CLIENT_SECRET TOKEN_ENCRYPTION_KEYS LOG_PSEUDONYM_KEY; do
  [ -n "${!v:-}" ] || missing+=("$v")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deploy: set ${missing[*]} first (docs/deploy.md says what each is)" >&2
  exit 2
fi
command -v az >/dev/null || { echo "deploy: the Azure CLI (az) is not installed" >&2; exit 2; }
[ -f build/connector.zip ] || { echo "deploy: build/connector.zip is missing; run make package" >&2; exit 2; }

# The secrets reach az in a parameters file only we can read, removed on
# exit: on az's command line any user of this machine could read them (ps).
json_string() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
  printf '"%s"' "$s"
}
secrets=$(umask 077 && mktemp "${TMPDIR:-/tmp}/pitcher-deploy.XXXXXX")
trap 'rm -f "$secrets"' EXIT
printf '{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#","contentVersion":"1.0.0.0","parameters":{"entraClientSecret":{"value":%s},"tokenEncryptionKeys":{"value":%s},"logPseudonymKey":{"value":%s}}}\n' \
  "$(json_string "$ENTRA_CLIENT_SECRET")" "$(json_string "$TOKEN_ENCRYPTION_KEYS")" "$(json_string "$LOG_PSEUDONYM_KEY")" >"$secrets"

app=$(az deployment group create \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name "pitcher-connector-$AZURE_ENV_NAME" \
  --template-file infra/main.bicep \
  --parameters environmentName="$AZURE_ENV_NAME" entraClientId="$ENTRA_CLIENT_ID" apiAllowedClientIds="${API_ALLOWED_CLIENT_IDS:-}" \
  --parameters "@$secrets" \
  --query properties.outputs.AZURE_FUNCTION_APP_NAME.value --output tsv)
echo "deploy: provisioned $app; uploading build/connector.zip"
az functionapp deployment source config-zip --resource-group "$AZURE_RESOURCE_GROUP" --name "$app" --src build/connector.zip
az deployment group show --resource-group "$AZURE_RESOURCE_GROUP" --name "pitcher-connector-$AZURE_ENV_NAME" \
  --query '{url: properties.outputs.AZURE_FUNCTION_APP_URL.value, redirectUris: properties.outputs.ENTRA_REDIRECT_URIS.value}'
