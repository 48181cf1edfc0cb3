package entra

import "strings"

// Directory role template ids (the same in every tenant) of the roles that
// may grant tenant-wide admin consent to an app's delegated permissions
// (docs/reference/entra-multitenant-oauth.md §1.2).
const (
	RoleGlobalAdministrator           = "62e90394-69f5-4237-9190-012177145e10"
	RolePrivilegedRoleAdministrator   = "e8611ab8-c189-46e8-94e1-60213ab1f814"
	RoleCloudApplicationAdministrator = "158c047a-c907-4556-b7ef-446551a6b5f7"
	RoleApplicationAdministrator      = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
)

// CanApproveForOrganisation reports whether the user holds one of the
// directory roles that may approve an app for their whole organisation.
// A custom role with that permission is not recognised: such a user is
// refused as if they were not an administrator.
func (c IDClaims) CanApproveForOrganisation() bool {
	for _, r := range c.DirectoryRoles {
		switch strings.ToLower(r) {
		case RoleGlobalAdministrator, RolePrivilegedRoleAdministrator, RoleCloudApplicationAdministrator, RoleApplicationAdministrator:
			return true
		}
	}
	return false
}
