package obs

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ObserveThrottling returns a transport that sends through next and counts
// every 429 answer as MetricThrottleWaits, with the Retry-After it carried,
// logged with the request's context (so with its invocation's scope).
func ObserveThrottling(next http.RoundTripper, logger *slog.Logger) http.RoundTripper {
	return throttleObserver{next: next, logger: logger}
}

type throttleObserver struct {
	next   http.RoundTripper
	logger *slog.Logger
}

func (t throttleObserver) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		var wait time.Duration
		if n, perr := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); perr == nil && n > 0 {
			wait = time.Duration(n) * time.Second
		}
		Count(r.Context(), t.logger, MetricThrottleWaits, 1, slog.Int64("retryAfterMs", wait.Milliseconds()), slog.String("host", r.URL.Host))
	}
	return resp, err
}
