package vpnapi

import "time"

// User is a VPN user as the cloud shows it (the VpnUser object of the API).
type User struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Description   string    `json:"description"`
	UserGroupID   string    `json:"user_group_id"`
	UserGroupName string    `json:"user_group_name"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// CreateUserRequest is the body of a create. Password is sent, never logged.
type CreateUserRequest struct {
	Name        string
	Password    Secret
	Description string
	UserGroupID string
}

// UpdateUserRequest is the body of an update; a nil field is left as it is.
type UpdateUserRequest struct {
	Description *string
	UserGroupID *string
}
