package queue

import (
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/config"
)

func TestNewClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config.ServiceBus
		err  string
	}{
		{"connection string", config.ServiceBus{ConnectionString: "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true"}, ""},
		{"managed identity", config.ServiceBus{Namespace: "pitcher-sb.servicebus.windows.net", ClientID: "6f1b3c1e-2d4a-4b6c-8e9f-0a1b2c3d4e5f"}, ""},
		{"nothing", config.ServiceBus{}, "no Service Bus connection string or namespace"},
		{"bad connection string", config.ServiceBus{ConnectionString: "Endpoint=nope"}, "connection string"},
	} {
		c, err := NewClient(tc.cfg)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) || (err == nil && c == nil) {
			t.Errorf("%s: NewClient = %v, %v; want error mentioning %q", tc.name, c, err, tc.err)
		}
	}
}
