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
	"fmt"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

// connect gets the cloud client of the VpnUser's credentials. Missing credentials cost no
// cloud call; the credentials Secret is watched, so its arrival reconciles again.
func (r *VpnUserReconciler) connect(ctx context.Context, s *scope) *outcome {
	cloud, err := r.Clouds.ClientFor(ctx, s.vu)
	if err != nil {
		if e, ok := asCredentialsNotFound(err); ok {
			return waiting(vpnv1alpha1.ReasonCredentialsNotFound, e.Message, nil)
		}
		return waiting(vpnv1alpha1.ReasonProgressing, fmt.Sprintf("Could not get the cloud client: %v", err),
			fmt.Errorf("getting the cloud client: %w", err))
	}
	s.cloud = cloud
	return nil
}
