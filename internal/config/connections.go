package config

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Storage says how to reach the storage account. Exactly one of
// ConnectionString (key-based, Azurite locally) or the service URLs
// (identity-based, Azure) is set.
type Storage struct {
	ConnectionString string
	TableServiceURL  string
	BlobServiceURL   string
	QueueServiceURL  string
	// ClientID selects a user-assigned managed identity; "" means the default credential chain.
	ClientID string
	// TablePrefix starts every table name (STORAGE_TABLE_PREFIX); empty in
	// an account of its own.
	TablePrefix string
}

// String describes the storage target without its secrets.
func (s Storage) String() string {
	if s.ConnectionString != "" {
		return "connection string (table " + connStringValue(s.ConnectionString, "TableEndpoint") + ")"
	}
	return "identity-based (table " + s.TableServiceURL + ")"
}

// ServiceBus says how to reach the Service Bus namespace: a connection string
// (the local fake), or a fully qualified namespace and a managed identity.
type ServiceBus struct {
	ConnectionString string
	Namespace        string
	ClientID         string
}

// String describes the Service Bus target without its secrets.
func (s ServiceBus) String() string {
	if s.ConnectionString != "" {
		return "connection string (" + connStringValue(s.ConnectionString, "Endpoint") + ")"
	}
	return "identity-based (" + s.Namespace + ")"
}

// DevelopmentStorage is what UseDevelopmentStorage=true stands for: Azurite's
// well-known account on its default loopback ports. The key is public.
const DevelopmentStorage = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
	"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
	"BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;" +
	"TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"

func (r *reader) storage(name string) Storage {
	cs := r.get(name)
	account := r.get(name + "__accountName")
	tableURI := r.get(name + "__tableServiceUri")
	blobURI := r.get(name + "__blobServiceUri")
	queueURI := r.get(name + "__queueServiceUri")
	identity := account != "" || tableURI != "" || blobURI != "" || queueURI != ""
	switch {
	case cs != "" && identity:
		r.problem(name, "both a connection string and %s__* identity settings are set; keep one (the Functions host uses the connection string)", name)
		return Storage{}
	case cs != "":
		return r.storageConnString(name, cs)
	case !identity:
		r.problem(name, "missing; set it to a storage connection string (UseDevelopmentStorage=true for Azurite) or set %s__accountName for a managed identity", name)
		return Storage{}
	}
	before := len(r.problems)
	s := Storage{ClientID: r.identity(name)}
	if account != "" && !validAccountName(account) {
		r.problem(name+"__accountName", "%q is not a storage account name (3 to 24 lowercase letters and digits)", account)
		account = ""
	}
	if account != "" {
		s.TableServiceURL = "https://" + account + ".table.core.windows.net"
		s.BlobServiceURL = "https://" + account + ".blob.core.windows.net"
		s.QueueServiceURL = "https://" + account + ".queue.core.windows.net"
	}
	for _, u := range []struct {
		suffix string
		value  string
		dst    *string
	}{{"__tableServiceUri", tableURI, &s.TableServiceURL}, {"__blobServiceUri", blobURI, &s.BlobServiceURL}, {"__queueServiceUri", queueURI, &s.QueueServiceURL}} {
		if u.value == "" {
			continue
		}
		if !httpsURL(u.value) {
			r.problem(name+u.suffix, "%q is not an https URL like https://<account>.table.core.windows.net", u.value)
			continue
		}
		*u.dst = strings.TrimRight(u.value, "/")
	}
	if len(r.problems) == before && (s.TableServiceURL == "" || s.BlobServiceURL == "") {
		r.problem(name, "identity-based storage needs %[1]s__accountName, or both %[1]s__tableServiceUri and %[1]s__blobServiceUri", name)
	}
	return s
}

func (r *reader) storageConnString(name, cs string) Storage {
	kv, bad := parseConnString(cs)
	if bad != "" {
		r.problem(name, "is not a connection string: %s", bad)
		return Storage{}
	}
	if strings.EqualFold(kv["UseDevelopmentStorage"], "true") {
		return Storage{ConnectionString: DevelopmentStorage}
	}
	known := map[string]bool{"DefaultEndpointsProtocol": true, "AccountName": true, "AccountKey": true, "EndpointSuffix": true,
		"BlobEndpoint": true, "QueueEndpoint": true, "TableEndpoint": true, "FileEndpoint": true, "SharedAccessSignature": true}
	ok := true
	for k := range kv {
		if !known[k] {
			r.problem(name, "has an unknown key %q; the keys are AccountName, AccountKey, DefaultEndpointsProtocol, EndpointSuffix, BlobEndpoint, QueueEndpoint, TableEndpoint, SharedAccessSignature", k)
			ok = false
		}
	}
	for _, k := range []string{"BlobEndpoint", "QueueEndpoint", "TableEndpoint"} {
		if v, set := kv[k]; set && !absURL(v) {
			r.problem(name, "%s %q is not an absolute URL", k, v)
			ok = false
		}
	}
	if kv["AccountKey"] == "" && kv["SharedAccessSignature"] == "" {
		r.problem(name, "has neither AccountKey nor SharedAccessSignature; copy the full connection string from the storage account's Access keys")
		ok = false
	}
	if kv["AccountName"] == "" && kv["TableEndpoint"] == "" {
		r.problem(name, "has neither AccountName nor TableEndpoint")
		ok = false
	}
	if !ok {
		return Storage{}
	}
	return Storage{ConnectionString: cs}
}

func (r *reader) serviceBus(name string) ServiceBus {
	cs := r.get(name)
	ns := r.get(name + "__fullyQualifiedNamespace")
	switch {
	case cs != "" && ns != "":
		r.problem(name, "both a connection string and %s__fullyQualifiedNamespace are set; keep one (the Functions host uses the connection string)", name)
		return ServiceBus{}
	case cs == "" && ns == "":
		r.problem(name, "missing; set %s__fullyQualifiedNamespace to <namespace>.servicebus.windows.net (managed identity), or %s to a connection string", name, name)
		return ServiceBus{}
	case ns != "":
		if strings.Contains(ns, "://") || strings.ContainsAny(ns, "/; ") || !strings.Contains(ns, ".") {
			r.problem(name+"__fullyQualifiedNamespace", "%q is not a host name; write it like mynamespace.servicebus.windows.net", ns)
			return ServiceBus{}
		}
		return ServiceBus{Namespace: ns, ClientID: r.identity(name)}
	}
	kv, bad := parseConnString(cs)
	if bad != "" {
		r.problem(name, "is not a connection string: %s", bad)
		return ServiceBus{}
	}
	ok := true
	if ep := kv["Endpoint"]; !strings.HasPrefix(ep, "sb://") || len(ep) <= len("sb://") {
		r.problem(name, "Endpoint must look like sb://<namespace>.servicebus.windows.net/")
		ok = false
	}
	if kv["SharedAccessSignature"] == "" && (kv["SharedAccessKeyName"] == "" || kv["SharedAccessKey"] == "") {
		r.problem(name, "needs SharedAccessKeyName and SharedAccessKey (or SharedAccessSignature); copy the namespace's connection string")
		ok = false
	}
	if kv["EntityPath"] != "" {
		r.problem(name, "has EntityPath; use a namespace-level connection string, since the app uses more than one queue")
		ok = false
	}
	if !ok {
		return ServiceBus{}
	}
	return ServiceBus{ConnectionString: cs}
}

// identity reads the <prefix>__credential and <prefix>__clientId settings.
func (r *reader) identity(prefix string) string {
	if c := r.get(prefix + "__credential"); c != "" && !strings.EqualFold(c, "managedidentity") {
		r.problem(prefix+"__credential", "%q is not supported; use managedidentity, or leave it unset to use the developer's own credentials", c)
	}
	id := r.get(prefix + "__clientId")
	if id != "" {
		if _, err := uuid.Parse(id); err != nil {
			r.problem(prefix+"__clientId", "%q is not a GUID; use the client ID of the user-assigned managed identity", id)
			return ""
		}
	}
	return id
}

// parseConnString splits a Key=Value;Key=Value string. Values may contain
// '='. It returns a description of what is malformed, never the value itself,
// because connection strings carry secrets.
func parseConnString(cs string) (map[string]string, string) {
	kv := map[string]string{}
	for i, part := range strings.Split(cs, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, "part " + strconv.Itoa(i+1) + " is not Key=Value"
		}
		kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if len(kv) == 0 {
		return nil, "it is empty"
	}
	return kv, ""
}

func connStringValue(cs, key string) string {
	kv, _ := parseConnString(cs)
	return kv[key]
}

func absURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func httpsURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

func validAccountName(v string) bool {
	if len(v) < 3 || len(v) > 24 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
