/*
Copyright 2026 The vpnuser-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package controller

import (
	"context"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// VPNUsers is the part of the cloud API that the reconciler consumes.
type VPNUsers interface {
	CreateUser(ctx context.Context, serverID string, req vpnapi.CreateUserRequest, clientToken string) (string, error)
	GetUser(ctx context.Context, serverID, userID string) (*vpnapi.User, error)
	ListUsers(ctx context.Context, serverID string) ([]vpnapi.User, error)
	UpdateUser(ctx context.Context, serverID, userID string, req vpnapi.UpdateUserRequest) (*vpnapi.User, error)
	DeleteUser(ctx context.Context, serverID, userID string) error
	ResetPassword(ctx context.Context, serverID, userID string, newPassword vpnapi.Secret) error
}

var _ VPNUsers = (*vpnapi.Client)(nil)

// CloudClients gives the cloud client that serves a VpnUser. Today every VpnUser shares
// the operator's credentials; the indirection is where per-namespace credentials plug in.
type CloudClients interface {
	ClientFor(ctx context.Context, vu *vpnv1alpha1.VpnUser) (VPNUsers, error)
}

// SharedClient serves every VpnUser with one client.
type SharedClient struct{ Client VPNUsers }

// ClientFor implements CloudClients.
func (s SharedClient) ClientFor(context.Context, *vpnv1alpha1.VpnUser) (VPNUsers, error) {
	return s.Client, nil
}
