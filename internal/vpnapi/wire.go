package vpnapi

import (
	"encoding/json"
	"time"
)

// The JSON bodies of API.md, as the client sends and reads them.

type createUserBody struct {
	User createUserFields `json:"user"`
}

type createUserFields struct {
	Name        string `json:"name"`
	Password    string `json:"password"`
	Description string `json:"description,omitempty"`
	UserGroupID string `json:"user_group_id,omitempty"`
}

type updateUserBody struct {
	User updateUserFields `json:"user"`
}

type updateUserFields struct {
	Description *string `json:"description,omitempty"`
	UserGroupID *string `json:"user_group_id,omitempty"`
}

type resetPasswordBody struct {
	NewPassword string `json:"new_password"`
}

type userResponse struct {
	User      wireUser `json:"user"`
	RequestID string   `json:"request_id"`
}

type listResponse struct {
	Users      []wireUser `json:"users"`
	TotalCount int        `json:"total_count"`
	PageInfo   struct {
		NextMarker   string `json:"next_marker"`
		CurrentCount int    `json:"current_count"`
	} `json:"page_info"`
	RequestID string `json:"request_id"`
}

// wireUser reads timestamps leniently: RFC 3339 as documented, and the zone-less form
// some Huawei APIs answer with (taken as UTC). A timestamp it cannot read stays zero.
type wireUser struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Description   string `json:"description"`
	UserGroupID   string `json:"user_group_id"`
	UserGroupName string `json:"user_group_name"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
}

func (w wireUser) user() User {
	return User{
		ID:            w.ID,
		Name:          w.Name,
		Description:   w.Description,
		UserGroupID:   w.UserGroupID,
		UserGroupName: w.UserGroupName,
		CreatedAt:     parseTimestamp(w.CreatedAt),
		UpdatedAt:     parseTimestamp(w.UpdatedAt),
	}
}

// TimestampFormat is how the API writes created_at and updated_at: UTC, RFC 3339 with
// milliseconds.
const TimestampFormat = "2006-01-02T15:04:05.000Z07:00"

var timestampLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05"}

func parseTimestamp(s string) time.Time {
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only strings and pointers to strings are marshalled.
		panic(err)
	}
	return b
}
