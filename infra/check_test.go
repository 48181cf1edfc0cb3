package infra_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pitcher/connector/devtools/bicep"
	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/localworld/funchost"
)

// The checks below compare infra/ with the code, because no Bicep compiler
// can run where the tests run. check returns every disagreement found.

// apiVersions is the allow-list of resource API versions (each seen in
// Microsoft's samples; see docs/reference/functions-custom-handlers.md §6).
var apiVersions = map[string][]string{
	"Microsoft.ManagedIdentity/userAssignedIdentities":          {"2023-01-31"},
	"Microsoft.Storage/storageAccounts":                         {"2023-05-01"},
	"Microsoft.Storage/storageAccounts/blobServices":            {"2023-05-01"},
	"Microsoft.Storage/storageAccounts/blobServices/containers": {"2023-05-01"},
	"Microsoft.ServiceBus/namespaces":                           {"2024-01-01"},
	"Microsoft.ServiceBus/namespaces/queues":                    {"2024-01-01"},
	"Microsoft.KeyVault/vaults":                                 {"2023-07-01"},
	"Microsoft.KeyVault/vaults/secrets":                         {"2023-07-01"},
	"Microsoft.OperationalInsights/workspaces":                  {"2023-09-01"},
	"Microsoft.Insights/components":                             {"2020-02-02"},
	"Microsoft.Web/serverfarms":                                 {"2024-04-01"},
	"Microsoft.Web/sites":                                       {"2024-04-01"},
	"Microsoft.Web/sites/config":                                {"2024-04-01"},
	"Microsoft.Authorization/roleAssignments":                   {"2022-04-01"},
}

// builtInRoles are the role definition IDs of
// docs/reference/functions-custom-handlers.md §5.3.
var builtInRoles = map[string]string{
	"storageBlobDataOwner":        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
	"storageTableDataContributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
	"serviceBusDataReceiver":      "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
	"serviceBusDataSender":        "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
	"keyVaultSecretsUser":         "4633458b-17de-408a-b874-0445c86b69e6",
	"monitoringMetricsPublisher":  "3913510d-42f4-4e42-8a64-420c390055eb",
}

// notSetInAzure lists settings the app can read that Azure deliberately
// leaves unset, with the reason.
var notSetInAzure = map[string]string{
	"FUNCTIONS_CUSTOMHANDLER_PORT":     "set by the Functions host",
	"AzureWebJobsStorage":              "identity-based: the __*ServiceUri settings are used",
	"AzureWebJobsStorage__accountName": "the service URIs are set instead (they work in sovereign clouds)",
	"ServiceBusConnection":             "identity-based: __fullyQualifiedNamespace is used",
	"SHUTDOWN_TIMEOUT":                 "optional; the default suits Flex Consumption",
	"DIAGNOSTICS_KEY":                  "optional; unset, /api/diagnostics serves only users' own diagnostics (docs/operations.md: how to add it as a Key Vault secret for support)",
	"DYNAMICS_DISCOVERY_URL":           "optional; defaults to the commercial Global Discovery service (set it in sovereign clouds)",
	"STORAGE_TABLE_PREFIX":             "optional; the account is the connector's own, so table names need no prefix",
	"SYNC_CONFIG":                      "optional; the defaults sync accounts, contacts and appointments",
	"SYNC_SCHEDULER_MAX_JOBS":          "optional; 5000 jobs per scheduler run suits one Function App",
	"SYNC_MAX_JOBS_PER_TENANT":         "optional; 2000 syncs per organisation per scheduler run, spread over the interval (docs/decisions.md, Sync)",
	"SYNC_LEASE_DURATION":              "optional; 2 minutes: a crashed worker's user is synced again that soon",
	"SYNC_WATERMARK_OVERLAP":           "optional; 5 minutes covers Dataverse's transactions and clock skew",
	"SYNC_RECONCILE_INTERVAL":          "optional; daily reconcile of tables without change tracking",
	"SYNC_CHANGES_RETENTION":           "optional; the change log keeps 30 days, longer-offline apps read a snapshot",
	"SYNC_TIME_BUDGET":                 "optional; 5 minutes per SyncWorker invocation, well inside the 10-minute functionTimeout",
	"RETENTION_INACTIVE":               "optional; 30 days, as docs/privacy.md promises customers",
	"RETENTION_UPLOADS":                "optional; 30 days, as docs/privacy.md promises customers",
	"RETENTION_MAX_PER_RUN":            "optional; 1000 erasures per daily run, the rest the next day",
}

// setAheadOfCode lists settings infra sets before the code that reads them
// has landed, with the issue that will read them.
var setAheadOfCode = map[string]string{}

// hostSettings are read by the Functions host itself.
var hostSettings = map[string]bool{
	"APPLICATIONINSIGHTS_CONNECTION_STRING":     true,
	"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": true,
}

var secretNamePattern = regexp.MustCompile(`(?i)(secret|password|keys?$|connectionstring)`)

// notSecrets are names the pattern above matches that hold no secret.
var notSecrets = map[string]string{
	"tokenEncryptionActiveKey":    "the id of the active key, not key material",
	"TOKEN_ENCRYPTION_ACTIVE_KEY": "the id of the active key, not key material",
}

func secretName(name string) bool {
	return secretNamePattern.MatchString(name) && notSecrets[name] == ""
}

type templates struct {
	files map[string]*bicep.File // by path relative to infra/
}

func (t *templates) file(rel string) *bicep.File { return t.files[rel] }

func (t *templates) all() []*bicep.File {
	var names []string
	for n := range t.files {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*bicep.File, len(names))
	for i, n := range names {
		out[i] = t.files[n]
	}
	return out
}

func loadTemplates(dir string) (*templates, []string) {
	t := &templates{files: map[string]*bicep.File{}}
	var problems []string
	paths, _ := filepath.Glob(filepath.Join(dir, "*.bicep"))
	more, _ := filepath.Glob(filepath.Join(dir, "modules", "*.bicep"))
	for _, p := range append(paths, more...) {
		f, err := bicep.ParseFile(p)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		rel, _ := filepath.Rel(dir, p)
		t.files[filepath.ToSlash(rel)] = f
	}
	return t, problems
}

// check compares the templates in infraDir with the app in repoRoot.
func check(infraDir, repoRoot string) []string {
	t, problems := loadTemplates(infraDir)
	if len(problems) > 0 {
		return problems
	}
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	main := t.file("main.bicep")
	if main == nil {
		return []string{"infra/main.bicep is missing"}
	}

	// API versions.
	for _, f := range t.all() {
		for _, r := range f.AllResources() {
			if !contains(apiVersions[r.Type], r.APIVersion) {
				add("%s:%d: %s@%s is not on the API version allow-list (%v)", f.Path, r.Line, r.Type, r.APIVersion, apiVersions[r.Type])
			}
		}
	}

	// Secrets: secure, no default, and only ever written to Key Vault.
	for _, f := range t.all() {
		for _, p := range f.Params {
			if secretName(p.Name) && !p.Secure() {
				add("%s:%d: param %s looks like a secret but is not @secure()", f.Path, p.Line, p.Name)
			}
			if p.Secure() && p.Default != nil {
				add("%s:%d: @secure() param %s has a default; secrets must be supplied at deployment", f.Path, p.Line, p.Name)
			}
			if p.Secure() {
				for _, use := range uses(t, f, p.Name) {
					if use != "keyvault-secret" {
						add("%s: secure param %s is used in %s; secrets may only go into Key Vault secrets", f.Path, p.Name, use)
					}
				}
			}
		}
	}
	for _, m := range main.Modules {
		mf := t.file(m.Path)
		if mf == nil {
			add("main.bicep: module %s: %s does not exist", m.Symbol, m.Path)
			continue
		}
		for _, prop := range m.Body.Get("params").Props {
			if mf.Param(prop.Key) == nil {
				add("main.bicep: module %s passes %s, which %s does not declare", m.Symbol, prop.Key, m.Path)
			}
		}
	}

	// App settings against what the app and the host read.
	appModule := moduleByPath(main, "modules/functionapp.bicep")
	settings := map[string]*bicep.Value{}
	if appModule == nil || appModule.Body.Get("params", "appSettings") == nil || appModule.Body.Get("params", "appSettings").Kind != bicep.Object {
		add("main.bicep: the functionapp module must receive appSettings as an object literal")
	} else {
		for _, p := range appModule.Body.Get("params", "appSettings").Props {
			settings[p.Key] = p.Value
		}
	}
	if fa := t.file("modules/functionapp.bicep"); fa != nil && fa.Var("derivedSettings") != nil {
		for _, p := range fa.Var("derivedSettings").Value.Props {
			settings[p.Key] = p.Value
		}
	}
	read := settingsReadByApp(settings)
	fns, err := funchost.LoadFunctions(repoRoot, funchost.Settings{})
	if err != nil {
		add("functions: %v", err)
	}
	referenced := map[string]string{} // setting -> what needs it
	for _, fn := range fns {
		for _, b := range fn.Bindings {
			for _, v := range []string{b.Schedule, b.QueueName} {
				for _, m := range regexp.MustCompile(`%([^%]+)%`).FindAllStringSubmatch(v, -1) {
					referenced[m[1]] = "function " + fn.Name
				}
			}
			if b.Type == funchost.ServiceBusTrigger {
				conn := b.Connection
				referenced[conn+"__fullyQualifiedNamespace"] = "the identity-based connection " + conn + " of function " + fn.Name
			}
		}
	}
	for name := range read {
		if _, ok := settings[name]; !ok && notSetInAzure[name] == "" {
			add("setting %s is read by the app but neither set in main.bicep's appSettings nor listed in notSetInAzure (infra/check_test.go)", name)
		}
	}
	for name, who := range referenced {
		if _, ok := settings[name]; !ok {
			add("setting %s is needed by %s but not set in main.bicep's appSettings", name, who)
		}
	}
	for name, v := range settings {
		_, byApp := read[name]
		_, byFn := referenced[name]
		if !byApp && !byFn && !hostSettings[name] && setAheadOfCode[name] == "" && !strings.HasPrefix(name, "AzureWebJobsStorage__") && !strings.HasPrefix(name, "ServiceBusConnection__") {
			add("setting %s is set in main.bicep but nothing reads it", name)
		}
		if secretName(name) && !strings.HasPrefix(strings.TrimPrefix(v.Expr, "'"), "@Microsoft.KeyVault(") {
			add("setting %s holds a secret; set it as a Key Vault reference '@Microsoft.KeyVault(SecretUri=...)'", name)
		}
		if name == "ServiceBusConnection" || name == "AzureWebJobsStorage" {
			add("setting %s is a connection string; Azure uses identity-based connections", name)
		}
	}
	for _, prefix := range []string{"AzureWebJobsStorage", "ServiceBusConnection"} {
		if s, _ := resolve(main, settings[prefix+"__credential"]); s != "managedidentity" {
			add("setting %s__credential must be 'managedidentity' (user-assigned identity)", prefix)
		}
		if settings[prefix+"__clientId"] == nil {
			add("setting %s__clientId must name the user-assigned identity", prefix)
		}
	}

	// Queues the functions use exist, with the properties the workers rely on.
	sb := t.file("modules/servicebus.bicep")
	queues := map[string]*bicep.Value{}
	if sb != nil && sb.Var("queues") != nil {
		for _, q := range sb.Var("queues").Value.Items {
			if name, ok := q.Get("name").Text(); ok {
				queues[name] = q
			}
		}
	}
	for _, fn := range fns {
		if fn.Trigger.Type != funchost.ServiceBusTrigger {
			continue
		}
		name, err := expand(main, settings, fn.Trigger.QueueName)
		if err != nil {
			add("function %s: queueName %s: %v", fn.Name, fn.Trigger.QueueName, err)
			continue
		}
		q := queues[name]
		if q == nil {
			add("function %s listens on queue %q, which modules/servicebus.bicep does not create", fn.Name, name)
			continue
		}
		if d, ok := isoDuration(q.Get("lockDuration")); !ok || d > 5*time.Minute || d < 30*time.Second {
			add("queue %s: lockDuration must be from PT30S to PT5M", name)
		}
		if n := q.Get("maxDeliveryCount").String(); n == "" || n == "0" {
			add("queue %s: maxDeliveryCount must be set (poison messages go to the dead-letter queue after it)", name)
		}
		if q.Get("requiresDuplicateDetection").String() != "true" {
			add("queue %s: requiresDuplicateDetection must be true", name)
		}
		if fn.Name == "UploadWorker" && q.Get("deadLetteringOnMessageExpiration").String() != "true" {
			add("queue %s: deadLetteringOnMessageExpiration must be true: an upload may never vanish", name)
		}
		if fn.Name == "UploadWorker" {
			// The worker marks an upload dead_lettered on the last delivery.
			if n, _ := resolve(main, settings[config.SettingUploadMaxDeliveries]); n != q.Get("maxDeliveryCount").String() {
				add("setting %s is %q but queue %s has maxDeliveryCount %s; they must be equal", config.SettingUploadMaxDeliveries, n, name, q.Get("maxDeliveryCount").String())
			}
		}
		checkLocalQueue(repoRoot, name, q, add)
		if _, ok := isoDuration(q.Get("duplicateDetectionHistoryTimeWindow")); !ok {
			add("queue %s: duplicateDetectionHistoryTimeWindow must be set", name)
		}
	}

	// Role assignments: each identity-based connection has its roles, scoped narrowly.
	assigned := roleAssignments(t)
	need := map[string]string{} // role -> scope hint
	if settings["AzureWebJobsStorage__blobServiceUri"] != nil {
		need["storageBlobDataOwner"] = "account"
		need["storageTableDataContributor"] = "account"
	}
	if settings["ServiceBusConnection__fullyQualifiedNamespace"] != nil {
		need["serviceBusDataReceiver"] = "queue"
		need["serviceBusDataSender"] = "queue"
	}
	for _, v := range settings {
		if strings.Contains(v.Expr, "@Microsoft.KeyVault(") {
			need["keyVaultSecretsUser"] = "vault::"
		}
	}
	if v := settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]; v != nil && strings.Contains(v.Expr, "Authorization=AAD") {
		need["monitoringMetricsPublisher"] = "appInsights"
	}
	for role, scope := range need {
		scopes := assigned[role]
		if len(scopes) == 0 {
			add("role %s is needed by the app's identity-based connections but no role assignment grants it", role)
			continue
		}
		for _, s := range scopes {
			if !strings.Contains(strings.ReplaceAll(s, " ", ""), scope) {
				add("role %s is assigned at scope %q; scope it to the %s", role, s, scope)
			}
		}
	}
	if kv := t.file("modules/keyvault.bicep"); kv != nil {
		secrets, readers := 0, len(assigned["keyVaultSecretsUser"])
		for _, r := range kv.AllResources() {
			if r.Type == "Microsoft.KeyVault/vaults/secrets" {
				secrets++
			}
		}
		if readers != secrets {
			add("modules/keyvault.bicep: %d secrets but %d Key Vault Secrets User assignments; grant each secret on its own", secrets, readers)
		}
	}
	if rf := t.file("modules/roles.bicep"); rf == nil || rf.Var("roles") == nil {
		add("modules/roles.bicep must define var roles")
	} else {
		for name, want := range builtInRoles {
			if got, _ := rf.Var("roles").Value.Get(name).Text(); got != want {
				add("modules/roles.bicep: roles.%s = %q, want the built-in %s", name, got, want)
			}
		}
	}

	// Security properties of each resource.
	props := []struct{ typ, path, want string }{
		{"Microsoft.Storage/storageAccounts", "properties.allowSharedKeyAccess", "false"},
		{"Microsoft.Storage/storageAccounts", "properties.allowBlobPublicAccess", "false"},
		{"Microsoft.Storage/storageAccounts", "properties.minimumTlsVersion", "'TLS1_2'"},
		{"Microsoft.ServiceBus/namespaces", "properties.disableLocalAuth", "true"},
		{"Microsoft.ServiceBus/namespaces", "sku.name", "'Standard'"},
		{"Microsoft.KeyVault/vaults", "properties.enableRbacAuthorization", "true"},
		{"Microsoft.Insights/components", "properties.DisableLocalAuth", "true"},
		{"Microsoft.Web/serverfarms", "sku.name", "'FC1'"},
		{"Microsoft.Web/sites", "properties.httpsOnly", "true"},
		{"Microsoft.Web/sites", "identity.type", "'UserAssigned'"},
		{"Microsoft.Web/sites", "properties.functionAppConfig.runtime.name", "'custom'"},
		{"Microsoft.Web/sites", "properties.keyVaultReferenceIdentity", "identityId"},
	}
	for _, p := range props {
		found := false
		for _, f := range t.all() {
			for _, r := range f.AllResources() {
				if r.Type != p.typ || r.Existing {
					continue
				}
				found = true
				if got := r.Body.Get(strings.Split(p.path, ".")...).String(); got != p.want {
					add("%s:%d: %s %s = %q, want %s", f.Path, r.Line, r.Symbol, p.path, got, p.want)
				}
			}
		}
		if !found {
			add("no %s resource in infra/", p.typ)
		}
	}

	// Outputs: the app URL and the redirect URIs, which must be the routes of
	// the callback functions.
	outputs := map[string]*bicep.Output{}
	for _, o := range main.Outputs {
		outputs[o.Name] = o
	}
	if outputs["AZURE_FUNCTION_APP_URL"] == nil {
		add("main.bicep: output AZURE_FUNCTION_APP_URL is missing")
	}
	if o := outputs["ENTRA_REDIRECT_URIS"]; o == nil {
		add("main.bicep: output ENTRA_REDIRECT_URIS is missing")
	} else {
		var uris []string
		for _, it := range o.Value.Items {
			uris = append(uris, it.Expr)
		}
		for _, fn := range fns {
			if fn.Name == "LoginCallback" || fn.Name == "AdminConsentCallback" {
				route := "/api/" + fn.Route.Template
				if !containsSuffix(uris, route+"'") {
					add("main.bicep: ENTRA_REDIRECT_URIS lacks %s, the route of %s", route, fn.Name)
				}
			}
		}
	}

	// host.json and function.json follow the rules of
	// docs/reference/functions-custom-handlers.md §1 and §4.
	settingsForHost := funchost.Settings{}
	for k := range settings {
		settingsForHost[k] = "x"
	}
	hc, err := funchost.LoadHostConfig(repoRoot, settingsForHost)
	if err != nil {
		add("host.json: %v", err)
	} else if !hc.CustomHandler.EnableForwardingHTTPRequest {
		add("host.json: customHandler.enableForwardingHttpRequest must be true (the handler serves /api/<route>)")
	}
	for _, fn := range fns {
		if fn.Trigger.Type == funchost.HTTPTrigger && !fn.Forwarded {
			add("function %s: an HTTP function with bindings besides httpTrigger in and http out is not forwarded by the host", fn.Name)
		}
		if fn.Trigger.Type == funchost.TimerTrigger {
			expr, err := expand(main, settings, fn.Trigger.Schedule)
			if err == nil {
				_, err = funchost.ParseSchedule(expr)
			}
			if err != nil {
				add("function %s: schedule: %v", fn.Name, err)
			}
		}
	}
	return problems
}

// settingsReadByApp records every setting app.Load asks for, once with
// nothing set and once with the Azure settings set, so both the
// connection-string and the identity-based paths are seen.
func settingsReadByApp(azure map[string]*bicep.Value) map[string]bool {
	read := map[string]bool{}
	record := func(env map[string]string) {
		_, _ = app.Load(func(k string) string { read[k] = true; return env[k] })
	}
	record(nil)
	env := map[string]string{}
	for k := range azure {
		env[k] = "x"
	}
	record(env)
	return read
}

// uses says where the identifier name occurs in f: "keyvault-secret" when
// inside a Key Vault secret or passed whole to a module's @secure() param,
// otherwise a description of the place.
func uses(t *templates, f *bicep.File, name string) []string {
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`)
	var out []string
	for _, r := range f.AllResources() {
		if !mentions(r.Body, re) {
			continue
		}
		if r.Type == "Microsoft.KeyVault/vaults/secrets" {
			out = append(out, "keyvault-secret")
		} else {
			out = append(out, "resource "+r.Symbol)
		}
	}
	for _, m := range f.Modules {
		for _, prop := range m.Body.Get("params").Props {
			if !mentions(prop.Value, re) {
				continue
			}
			if mf := t.file(m.Path); mf != nil {
				if mp := mf.Param(prop.Key); mp != nil && mp.Secure() && strings.TrimSpace(prop.Value.Expr) == name {
					out = append(out, "keyvault-secret") // checked again where the module uses it
					continue
				}
			}
			out = append(out, "module "+m.Symbol+" param "+prop.Key)
		}
	}
	for _, v := range f.Vars {
		if mentions(v.Value, re) {
			out = append(out, "var "+v.Name)
		}
	}
	for _, o := range f.Outputs {
		if mentions(o.Value, re) {
			out = append(out, "output "+o.Name)
		}
	}
	return out
}

func mentions(v *bicep.Value, re *regexp.Regexp) bool {
	if v == nil {
		return false
	}
	switch v.Kind {
	case bicep.Object:
		for _, p := range v.Props {
			if mentions(p.Value, re) {
				return true
			}
		}
	case bicep.Array:
		for _, it := range v.Items {
			if mentions(it, re) {
				return true
			}
		}
	default:
		return re.MatchString(v.Expr)
	}
	return false
}

func moduleByPath(f *bicep.File, path string) *bicep.Module {
	for _, m := range f.Modules {
		if m.Path == path {
			return m
		}
	}
	return nil
}

// resolve evaluates v when it is a string literal or names a var or param
// (with a literal default) of f.
func resolve(f *bicep.File, v *bicep.Value) (string, bool) {
	if v == nil {
		return "", false
	}
	if s, ok := v.Text(); ok {
		return s, true
	}
	name := strings.TrimSpace(v.Expr)
	if x := f.Var(name); x != nil {
		return x.Value.Text()
	}
	if p := f.Param(name); p != nil && p.Default != nil {
		return p.Default.Text()
	}
	return "", false
}

// expand replaces %NAME% in s with the value main.bicep gives setting NAME.
func expand(main *bicep.File, settings map[string]*bicep.Value, s string) (string, error) {
	var err error
	out := regexp.MustCompile(`%([^%]+)%`).ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(m, "%")
		v, ok := resolve(main, settings[name])
		if !ok {
			err = fmt.Errorf("setting %s is not set to a literal (or a var/param with a literal default) in main.bicep", name)
		}
		return v
	})
	return out, err
}

// roleAssignments maps each role name (of modules/roles.bicep) to the scopes
// it is assigned at.
func roleAssignments(t *templates) map[string][]string {
	out := map[string][]string{}
	re := regexp.MustCompile(`roles\.(\w+)`)
	for _, f := range t.all() {
		for _, r := range f.AllResources() {
			if r.Type != "Microsoft.Authorization/roleAssignments" {
				continue
			}
			m := re.FindStringSubmatch(r.Body.Get("properties", "roleDefinitionId").String())
			if m == nil || r.Body.Get("properties", "principalType").String() != "'ServicePrincipal'" {
				continue
			}
			out[m[1]] = append(out[m[1]], r.Body.Get("scope").String())
		}
	}
	return out
}

// isoDuration parses the ISO 8601 durations Service Bus uses (PT30S, PT5M, P1D).
func isoDuration(v *bicep.Value) (time.Duration, bool) {
	s, ok := v.Text()
	if !ok {
		return 0, false
	}
	m := regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`).FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] != "" {
			var n int
			fmt.Sscanf(m[i+1], "%d", &n)
			d += time.Duration(n) * unit
		}
	}
	return d, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsSuffix(list []string, suffix string) bool {
	for _, x := range list {
		if strings.HasSuffix(x, suffix) {
			return true
		}
	}
	return false
}

// checkLocalQueue compares a queue of modules/servicebus.bicep with the
// Service Bus fake's declaration of it, so the local world behaves as Azure.
func checkLocalQueue(repoRoot, name string, q *bicep.Value, add func(string, ...any)) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "localworld", "servicebus-fake", "config.json"))
	if err != nil {
		add("localworld/servicebus-fake/config.json: %v", err)
		return
	}
	var cfg struct {
		UserConfig struct {
			Namespaces []struct {
				Queues []struct {
					Name       string
					Properties map[string]any
				}
			}
		}
	}
	if err := json.Unmarshal(b, &cfg); err != nil || len(cfg.UserConfig.Namespaces) == 0 {
		add("localworld/servicebus-fake/config.json is not an emulator Config.json: %v", err)
		return
	}
	for _, lq := range cfg.UserConfig.Namespaces[0].Queues {
		if lq.Name != name {
			continue
		}
		for bicepKey, localKey := range map[string]string{
			"lockDuration": "LockDuration", "maxDeliveryCount": "MaxDeliveryCount",
			"requiresDuplicateDetection": "RequiresDuplicateDetection", "duplicateDetectionHistoryTimeWindow": "DuplicateDetectionHistoryTimeWindow",
			"deadLetteringOnMessageExpiration": "DeadLetteringOnMessageExpiration", "defaultMessageTimeToLive": "DefaultMessageTimeToLive",
		} {
			want := q.Get(bicepKey).String()
			if text, ok := q.Get(bicepKey).Text(); ok {
				want = text
			}
			if got := fmt.Sprint(lq.Properties[localKey]); got != want {
				add("queue %s: %s is %s in Azure (modules/servicebus.bicep) but %s in the local fake (localworld/servicebus-fake/config.json)", name, bicepKey, want, got)
			}
		}
		return
	}
	add("queue %s is not declared in localworld/servicebus-fake/config.json", name)
}
