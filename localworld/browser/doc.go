// Package browser holds the tests that drive the admin-consent and sign-in
// flows in a real browser: headless Chromium (Debian's chromium package),
// driven with chromedp, against a testworld World. They check what Go's
// HTTP client cannot: the browser's cookie rules (SameSite, Secure, Path,
// expiry), the pages' Content-Security-Policy as Chromium enforces it, and
// how the pages look (screenshots under .run/browser/).
//
// The package has only tests; it is its own package so that chromedp is
// linked into nothing but this test binary. Without Chromium the tests skip
// on a developer's `go test`, and fail when CI or
// CONNECTOR_TEST_REQUIRE_BROWSER is set (scripts/install-chromium.sh
// installs it; .ci/run runs it). See docs/decisions.md, "Tests and the
// local world".
package browser
