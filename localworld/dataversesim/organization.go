package dataversesim

import "github.com/google/uuid"

// Identities of the simulated environment; the same in every run.
var (
	OrganizationID = uuid.MustParse("4faf1f34-f06d-e511-80d0-00155db07cb1")
	BusinessUnitID = uuid.MustParse("ded5a64f-f06d-e511-80d0-00155db07cb1")
	EnvironmentID  = uuid.MustParse("7b4fd1a3-0c5e-4f7e-9b57-5f2a4c0d1e01")
)

// Organization defaults (docs/reference/dataverse-webapi.md §3.4, §6.1).
const (
	DefaultMaxUploadFileSize    = 5242880
	DefaultExpireChangeTracking = 7
)

// orgSettings are the organization columns the simulator enforces.
type orgSettings struct {
	maxUpload  int
	expireDays int
}

func (s *Sim) seedOrganization() {
	t := s.st.tables["organizations"]
	vals := make([]any, len(t.attrs))
	vals[t.byJSON["name"]] = "Simulated Organization"
	vals[t.byJSON["maxuploadfilesize"]] = int64(DefaultMaxUploadFileSize)
	vals[t.byJSON["expirechangetrackingindays"]] = int64(DefaultExpireChangeTracking)
	vals[t.pk] = OrganizationID.String()
	s.st.insert(t, vals)
}

// organization reads the settings from the organization row; the caller
// holds the lock.
func (s *Sim) organization() orgSettings {
	t := s.st.tables["organizations"]
	r := t.rows[OrganizationID.String()]
	o := orgSettings{maxUpload: DefaultMaxUploadFileSize, expireDays: DefaultExpireChangeTracking}
	if v, ok := r.vals[t.byJSON["maxuploadfilesize"]].(int64); ok {
		o.maxUpload = int(v)
	}
	if v, ok := r.vals[t.byJSON["expirechangetrackingindays"]].(int64); ok {
		o.expireDays = int(v)
	}
	return o
}
