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

package v1alpha1

// Condition types. Ready is the summary; Reconciling and Stalled follow the kstatus
// convention (sigs.k8s.io/cli-utils/pkg/kstatus), so that kubectl wait, Helm's --wait and
// Argo CD read the same truth.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
)

// Condition reasons: stable, CamelCase, for scripts to match.
const (
	// ReasonCreated: the cloud user was created by this operator and is in step.
	ReasonCreated = "Created"
	// ReasonSynced: the cloud user matches the manifest.
	ReasonSynced = "Synced"
	// ReasonAdopted: an existing cloud user was taken over (annotation adopt).
	ReasonAdopted = "Adopted"
	// ReasonProgressing: work is under way (creating, updating, resetting the password).
	ReasonProgressing = "Progressing"
	// ReasonSecretNotFound: the password Secret or its key does not exist yet.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonInvalidPassword: the password breaks the cloud's rules; nothing was sent.
	ReasonInvalidPassword = "InvalidPassword"
	// ReasonPasswordRejected: the cloud refused the new password (for example one of the
	// user's last 5 passwords).
	ReasonPasswordRejected = "PasswordRejected"
	// ReasonInvalidSpec: the cloud refused the spec (for example an unknown user group).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonNameConflict: a user of that name already exists on the server.
	ReasonNameConflict = "NameConflict"
	// ReasonCloudUnavailable: the cloud answered 5xx, busy, or could not be reached.
	ReasonCloudUnavailable = "CloudUnavailable"
	// ReasonRateLimited: the cloud throttled the operator.
	ReasonRateLimited = "RateLimited"
	// ReasonCloudAuthFailed: the cloud refused the operator's credentials.
	ReasonCloudAuthFailed = "CloudAuthFailed"
	// ReasonServerNotFound: the VPN server (or project) does not exist.
	ReasonServerNotFound = "ServerNotFound"
	// ReasonPaused: the annotation vpn.huaweicloud.io/paused stops all cloud calls.
	ReasonPaused = "Paused"
	// ReasonDeleting: the VpnUser is being deleted.
	ReasonDeleting = "Deleting"
	// ReasonCredentialsNotFound: the cloud credentials of the VpnUser are missing: its
	// credentials Secret or one of its keys does not exist, or it names no Secret and the
	// operator runs with --default-credentials=none. No cloud call is made until they come.
	ReasonCredentialsNotFound = "CredentialsNotFound"
	// ReasonCredentialsUnavailable: the operator's keyless credentials source (pod
	// identity, OIDC federation, ECS metadata) gives no valid credentials; the operator
	// tries it again with back-off and recovers by itself when it answers.
	ReasonCredentialsUnavailable = "CredentialsUnavailable"
	// ReasonObserved: under managementPolicy Observe, the cloud user was found and is
	// mirrored into the status.
	ReasonObserved = "Observed"
	// ReasonNotFound: under managementPolicy Observe, no user of that name exists on the
	// server; it is looked for again every sync period.
	ReasonNotFound = "NotFound"
	// ReasonInvalidAnnotation is the reason of the Warning event about an annotation whose
	// value the operator cannot use (it never affects the conditions).
	ReasonInvalidAnnotation = "InvalidAnnotation"
	// ReasonAlreadyManaged (Failed): another VpnUser of the cluster already manages the
	// cloud user this one names; this one never writes to it, and its deletion leaves it.
	ReasonAlreadyManaged = "AlreadyManaged"
	// ReasonAdoptionNotAllowed (Failed): the VpnUser asks to adopt an existing cloud user
	// (or to take over an observed one) in a namespace the operator does not allow to.
	ReasonAdoptionNotAllowed = "AdoptionNotAllowed"
	// ReasonProjectMismatch (Failed): the cloud user was made in another project than the
	// one of the credentials now in use; the operator does not act on it through them.
	ReasonProjectMismatch = "ProjectMismatch"
)
