package uploader

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// orgLimits caches each environment's maxuploadfilesize: read from the
// organization row once per environment and hour, so intake checks
// documents against the limit Dynamics will apply without a Dataverse
// request per report.
type orgLimits struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[string]orgLimit // by environment URL
	sf      *singleflight.Group
}

type orgLimit struct {
	maxUpload int64
	readAt    time.Time
}

// orgReadTimeout bounds the read in an app's request.
const orgReadTimeout = 5 * time.Second

// maxUpload returns o's environment's maxuploadfilesize, or 0 when it
// cannot be read now (the user must sign in again, Dynamics is busy):
// intake then accepts documents up to the body limit and Dynamics has the
// last word, rather than refusing a report it might take.
func (s *Service) maxUpload(ctx context.Context, o Owner) int64 {
	l := &s.limits
	l.mu.Lock()
	e, ok := l.entries[o.OrgURL]
	l.mu.Unlock()
	if ok && s.now().Sub(e.readAt) < l.ttl {
		return e.maxUpload
	}
	v, err, _ := l.sf.Do(o.OrgURL, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), orgReadTimeout)
		defer cancel()
		c, err := s.client(o, nil)
		if err != nil {
			return int64(0), err
		}
		org, err := c.OrganizationSettings(ctx)
		if err != nil {
			return int64(0), err
		}
		l.mu.Lock()
		l.entries[o.OrgURL] = orgLimit{maxUpload: org.MaxUploadFileSize, readAt: s.now()}
		l.mu.Unlock()
		return org.MaxUploadFileSize, nil
	})
	if err != nil {
		s.Logger.Warn("could not read the organization's maxuploadfilesize; documents are checked by Dynamics only",
			"org", o.OrgURL, "tenant", o.TenantID, "user", o.UserID, "error", err.Error())
		return 0
	}
	return v.(int64)
}
