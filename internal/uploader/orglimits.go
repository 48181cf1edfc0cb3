package uploader

import (
	"context"
	"time"

	"github.com/pitcher/connector/internal/dataverse"
)

// orgReadTimeout bounds the read of the organization's settings in an
// app's request.
const orgReadTimeout = 5 * time.Second

// maxUpload returns o's environment's maxuploadfilesize (read from the
// organization row once per environment and hour, so intake checks
// documents against the limit Dynamics will apply without a Dataverse
// request per report), or 0 when it cannot be read now (the user must sign
// in again, Dynamics is busy): intake then accepts documents up to the body
// limit and Dynamics has the last word, rather than refusing a report it
// might take.
func (s *Service) maxUpload(ctx context.Context, o Owner) int64 {
	c, err := s.client(o, nil)
	if err == nil {
		var org dataverse.OrganizationSettings
		if org, err = s.limits.Get(ctx, c, orgReadTimeout); err == nil {
			return org.MaxUploadFileSize
		}
	}
	s.Logger.Warn("could not read the organization's maxuploadfilesize; documents are checked by Dynamics only",
		"org", o.OrgURL, "tenant", o.TenantID, "user", o.UserID, "error", err.Error())
	return 0
}
