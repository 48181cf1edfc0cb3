package signin

import (
	"fmt"
	"net/url"
	"strings"
)

// ReturnToPolicy is the allow-list of places a finished sign-in may send
// the browser (an open redirect otherwise).
type ReturnToPolicy struct {
	allowed []*url.URL
}

// NewReturnToPolicy parses the allow-list: absolute URLs (https, loopback
// http, or an app's own scheme such as pitcher://auth). A return_to is
// allowed when its scheme and host equal an entry's and its path lies under
// the entry's path.
func NewReturnToPolicy(entries []string) (*ReturnToPolicy, error) {
	p := &ReturnToPolicy{}
	for _, e := range entries {
		u, err := url.Parse(e)
		if err != nil || u.Scheme == "" || u.User != nil || u.Fragment != "" || u.RawQuery != "" || (u.Host == "" && u.Opaque == "" && u.Path == "") {
			return nil, fmt.Errorf("%q is not an absolute URL without query, fragment or user info", e)
		}
		p.allowed = append(p.allowed, u)
	}
	return p, nil
}

// Check returns rt if the allow-list permits it; "" means "no return_to".
func (p *ReturnToPolicy) Check(rt string) (string, error) {
	if rt == "" {
		return "", nil
	}
	if len(rt) > 2048 || strings.ContainsAny(rt, "\\\x00\r\n\t ") {
		return "", fmt.Errorf("return_to is too long or contains characters a URL may not")
	}
	u, err := url.Parse(rt)
	if err != nil || u.User != nil || u.Opaque != "" {
		return "", fmt.Errorf("return_to is not a URL")
	}
	for _, a := range p.allowed {
		if !strings.EqualFold(u.Scheme, a.Scheme) || !strings.EqualFold(u.Host, a.Host) {
			continue
		}
		base := strings.TrimSuffix(a.EscapedPath(), "/")
		path := u.EscapedPath()
		if path == base || strings.HasPrefix(path, base+"/") {
			lp := strings.ToLower(path)
			if strings.Contains(lp, "/../") || strings.HasSuffix(lp, "/..") || strings.Contains(lp, "%2e") || strings.Contains(lp, "%2f") || strings.Contains(lp, "%5c") {
				return "", fmt.Errorf("return_to may not climb out of an allowed path")
			}
			return u.String(), nil
		}
	}
	return "", fmt.Errorf("return_to is not on the allow-list (RETURN_TO_ALLOWLIST)")
}
