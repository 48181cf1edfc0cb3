package entrasim

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/uuid"
)

// Seed is the simulator's starting state, read from JSON.
type Seed struct {
	Clients []*Client `json:"clients"`
	Tenants []*Tenant `json:"tenants"`
}

//go:embed seed.json
var defaultSeed []byte

// DefaultSeed is the seed of the local world (seed.json beside this file,
// documented in the README).
func DefaultSeed() Seed {
	s, err := ParseSeed(defaultSeed)
	if err != nil {
		panic("entrasim: the embedded seed.json is invalid: " + err.Error())
	}
	return s
}

// ReadSeed reads a seed file.
func ReadSeed(path string) (Seed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Seed{}, err
	}
	s, err := ParseSeed(b)
	if err != nil {
		return Seed{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ParseSeed decodes a seed, refusing unknown fields.
func ParseSeed(b []byte) (Seed, error) {
	var s Seed
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Seed{}, fmt.Errorf("seed: %w", err)
	}
	return s, nil
}

// load validates seed and installs it. Ids are GUIDs in lower case; UPNs
// and domains are unique.
func (s *Sim) load(seed Seed) error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for i, c := range seed.Clients {
		if !guid(c.ClientID) {
			bad("clients[%d].clientId %q is not a lower-case GUID", i, c.ClientID)
			continue
		}
		if len(c.RedirectURIs) == 0 {
			bad("clients[%d].redirectUris is empty", i)
		}
		s.clients[c.ClientID] = c
	}
	for i, t := range seed.Tenants {
		if !guid(t.ID) {
			bad("tenants[%d].id %q is not a lower-case GUID", i, t.ID)
			continue
		}
		t.Domain = strings.ToLower(t.Domain)
		if t.Domain == "" || s.domains[t.Domain] != "" {
			bad("tenants[%d].domain %q is empty or used twice", i, t.Domain)
		}
		t.consented, t.provisioned = map[string]bool{}, map[string]bool{}
		for _, c := range t.AdminConsent {
			if s.clients[c] == nil {
				bad("tenants[%d].adminConsent names unknown client %q", i, c)
			}
			t.consented[c], t.provisioned[c] = true, true
		}
		for j, u := range t.Users {
			key := strings.ToLower(u.UPN)
			switch {
			case !guid(u.ObjectID):
				bad("tenants[%d].users[%d].oid %q is not a lower-case GUID", i, j, u.ObjectID)
			case key == "" || s.users[key] != nil:
				bad("tenants[%d].users[%d].upn %q is empty or used twice", i, j, u.UPN)
			}
			u.tenant, u.userConsent = t, map[string]bool{}
			s.users[key] = u
		}
		s.tenants[t.ID], s.domains[t.Domain] = t, t.ID
	}
	if len(problems) > 0 {
		return errors.New("seed: " + strings.Join(problems, "; "))
	}
	return nil
}

func guid(v string) bool {
	u, err := uuid.Parse(v)
	return err == nil && len(v) == 36 && u.String() == v
}
