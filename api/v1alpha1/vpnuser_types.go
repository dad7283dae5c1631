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

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Annotations that steer the operator for one object.
const (
	// AnnotationAdopt set to "true" lets the operator take over a cloud user of the same
	// name that already exists on the server, instead of reporting NameConflict.
	AnnotationAdopt = "vpn.huaweicloud.io/adopt"
	// AnnotationPaused set to "true" stops every cloud call for the object until removed.
	AnnotationPaused = "vpn.huaweicloud.io/paused"
	// AnnotationSyncPeriod overrides the operator's --sync-period for the object: a Go
	// duration from 30s to 24h, or "0" to turn periodic observation off.
	AnnotationSyncPeriod = "vpn.huaweicloud.io/sync-period"
	// AnnotationReconcileRequestedAt set to a new value (any string, e.g. a timestamp)
	// makes the operator reconcile the object at once; the value handled is recorded in
	// status.lastHandledReconcileAt (Flux's convention).
	AnnotationReconcileRequestedAt = "vpn.huaweicloud.io/reconcile-requested-at"

	// Finalizer keeps a VpnUser until its cloud user is deleted (or orphaned).
	Finalizer = "vpn.huaweicloud.io/finalizer"

	// DefaultPasswordKey is the key read from the password Secret when none is given.
	DefaultPasswordKey = "password"
)

// DeletionPolicy says what happens to the cloud user when its VpnUser is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes the cloud user with the VpnUser.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the cloud user in place.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// ManagementPolicy says whether the operator manages the cloud user or only observes it.
// +kubebuilder:validation:Enum=Manage;Observe
type ManagementPolicy string

const (
	// ManagementPolicyManage creates, updates, resets the password of and deletes the
	// cloud user so that it follows the VpnUser.
	ManagementPolicyManage ManagementPolicy = "Manage"
	// ManagementPolicyObserve only reads the cloud user (found by name) into the status;
	// the operator never writes to the cloud for the object.
	ManagementPolicyObserve ManagementPolicy = "Observe"
)

// Keys of a credentials Secret (spec.credentialsSecretRef): the names Huawei's tools read
// from the environment.
const (
	CredentialsKeyAccessKey     = "HUAWEICLOUD_SDK_AK"
	CredentialsKeySecretKey     = "HUAWEICLOUD_SDK_SK"
	CredentialsKeyProjectID     = "HUAWEICLOUD_SDK_PROJECT_ID"
	CredentialsKeySecurityToken = "HUAWEICLOUD_SDK_SECURITY_TOKEN"
	CredentialsKeyRegion        = "HUAWEICLOUD_SDK_REGION"
)

// LocalSecretReference names a Secret in the VpnUser's own namespace.
type LocalSecretReference struct {
	// name of the Secret, in the same namespace as the VpnUser.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="credentialsSecretRef.name must be a valid Secret name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name"`
}

// SecretKeyReference names a key of a Secret in the VpnUser's own namespace.
type SecretKeyReference struct {
	// name of the Secret, in the same namespace as the VpnUser.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="passwordSecretRef.name must be a valid Secret name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name"`

	// key of the Secret's data that holds the password.
	// +optional
	// +kubebuilder:default=password
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-._a-zA-Z0-9]+$')",message="passwordSecretRef.key must be a valid Secret key: letters, digits, '-', '_' and '.'"
	Key string `json:"key,omitempty"`
}

// VpnUserSpec is the desired state of a user of a Huawei Cloud P2C VPN server.
// +kubebuilder:validation:XValidation:rule="(has(self.managementPolicy) && self.managementPolicy == 'Observe') || has(self.passwordSecretRef)",message="passwordSecretRef is required when managementPolicy is Manage (the default): name the Secret that holds the user's password, or set managementPolicy: Observe",fieldPath=".passwordSecretRef",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="has(oldSelf.userName) == has(self.userName) && (!has(self.userName) || self.userName == oldSelf.userName)",message="userName is immutable: the cloud cannot rename a user; create a new VpnUser instead"
type VpnUserSpec struct {
	// vpnServerId is the UUID of the P2C VPN server (client authentication LOCAL_PASSWORD,
	// state ACTIVE) that holds the user. Immutable.
	// +required
	// +kubebuilder:validation:MaxLength=36
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')",message="vpnServerId must be a UUID, such as 7625fd92-2e20-4e4d-8c56-66f110fbfaa8"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="vpnServerId is immutable: a user cannot move to another server; create a new VpnUser instead"
	VpnServerID string `json:"vpnServerId"`

	// userName is the user's name in the cloud, unique on its server. Defaults to
	// metadata.name. 4 to 32 letters, digits, '.', '_' or '-'. Immutable.
	// +optional
	// +kubebuilder:validation:MinLength=4
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9._-]+$')",message="userName may contain only letters, digits, '.', '_' and '-'"
	// +kubebuilder:validation:XValidation:rule="!self.lowerAscii().startsWith('l3sw_') && !(self.lowerAscii() in ['link', 'cascade', 'securenat', 'localbridge', 'administrator'])",message="userName is reserved by the cloud: names starting with L3SW_ and link, Cascade, SecureNAT, localbridge, administrator (in any letter case) are refused"
	UserName string `json:"userName,omitempty"`

	// description of the user: up to 64 letters, digits or '_' (no spaces).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9_]*$')",message="description may contain only letters, digits and '_' (no spaces)"
	Description string `json:"description,omitempty"`

	// userGroupId is the UUID of a user group of the same server.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	// +kubebuilder:validation:XValidation:rule="self == '' || self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')",message="userGroupId must be a UUID, such as 7625fd92-2e20-4e4d-8c56-66f110fbfaa8"
	UserGroupID string `json:"userGroupId,omitempty"`

	// passwordSecretRef points at the user's password in a Secret of this namespace.
	// A changed password is applied to the cloud with a password reset. Required when
	// managementPolicy is Manage; not read under Observe.
	// +optional
	PasswordSecretRef SecretKeyReference `json:"passwordSecretRef,omitzero"`

	// managementPolicy: Manage (the default) makes the cloud user follow this object;
	// Observe only finds the user by userName on vpnServerId and mirrors it into the
	// status, and never creates, updates, resets the password of or deletes it, whatever
	// deletionPolicy says.
	// +optional
	// +kubebuilder:default=Manage
	ManagementPolicy ManagementPolicy `json:"managementPolicy,omitempty"`

	// credentialsSecretRef names a Secret of this namespace with the cloud credentials to
	// use for this user: keys HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK and
	// HUAWEICLOUD_SDK_PROJECT_ID, optionally HUAWEICLOUD_SDK_SECURITY_TOKEN and
	// HUAWEICLOUD_SDK_REGION. Without it, the operator's own credentials are used.
	// +optional
	CredentialsSecretRef *LocalSecretReference `json:"credentialsSecretRef,omitempty"`

	// deletionPolicy says whether deleting the VpnUser deletes the cloud user (Delete,
	// the default) or leaves it (Orphan).
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// AppliedSecret records which version of the password Secret was last applied to the
// cloud. It never holds the password or a hash of it.
type AppliedSecret struct {
	// name of the Secret.
	Name string `json:"name"`
	// key of the Secret's data.
	Key string `json:"key"`
	// uid of the Secret, so that a Secret deleted and created again counts as new.
	UID string `json:"uid"`
	// resourceVersion of the Secret when its password was applied.
	ResourceVersion string `json:"resourceVersion"`
}

// CreateWindow is when creates of the cloud user were sent whose answers never came (a
// timeout, a lost connection, a server error): the cloud may have made the user then.
type CreateWindow struct {
	// firstSentAt is when the first of them was sent.
	FirstSentAt metav1.Time `json:"firstSentAt"`
	// lastSentAt is when the last of them was sent.
	LastSentAt metav1.Time `json:"lastSentAt"`
}

// VpnUserStatus is what the operator last saw of the cloud user.
type VpnUserStatus struct {
	// id of the user in the cloud.
	// +optional
	ID string `json:"id,omitempty"`
	// userName as the cloud reports it.
	// +optional
	UserName string `json:"userName,omitempty"`
	// description as the cloud reports it.
	// +optional
	Description string `json:"description,omitempty"`
	// userGroupId as the cloud reports it.
	// +optional
	UserGroupID string `json:"userGroupId,omitempty"`
	// userGroupName as the cloud reports it.
	// +optional
	UserGroupName string `json:"userGroupName,omitempty"`
	// createdAt is the cloud's creation time of the user.
	// +optional
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`
	// updatedAt is the cloud's last update time of the user.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`

	// appliedPasswordSecret is the version of the password Secret whose password the
	// cloud user has.
	// +optional
	AppliedPasswordSecret *AppliedSecret `json:"appliedPasswordSecret,omitempty"`

	// rejectedPasswordSecret is the version of the password Secret whose password the
	// cloud refused (for example one of the user's last 5 passwords). The operator does not
	// try it again; a new version of the Secret is tried once.
	// +optional
	RejectedPasswordSecret *AppliedSecret `json:"rejectedPasswordSecret,omitempty"`

	// pendingPasswordSecret is the version of the password Secret of a reset that was sent
	// but whose answer never came (lost on the way, or the operator stopped). It is
	// recorded before the reset is sent, so that it survives a crash: if the cloud then
	// refuses the same password as one of the user's last 5, the earlier reset was applied.
	// +optional
	PendingPasswordSecret *AppliedSecret `json:"pendingPasswordSecret,omitempty"`

	// projectId is the cloud project the user was made, adopted or found in. The operator
	// does not act on the user through credentials of another project.
	// +optional
	ProjectID string `json:"projectId,omitempty"`

	// pendingCreate is set while a create may have made the cloud user without its answer
	// reaching the operator. A user of the same name is taken for this VpnUser's only when
	// the cloud created it within this window (give or take a clock allowance); a create
	// refused for good made nothing and leaves none pending.
	// +optional
	PendingCreate *CreateWindow `json:"pendingCreate,omitempty"`

	// idRecordedAt is when the id of a user this operator created was recorded. A user
	// not yet seen by a GET (createdAt empty) that the cloud does not show is waited for
	// for a while (the cloud is eventually consistent) before it is created again.
	// +optional
	IDRecordedAt *metav1.Time `json:"idRecordedAt,omitempty"`

	// refusedCreates counts the creates the cloud refused for good (400); each refusal
	// retires the idempotency token it used, so the next create sends a new one.
	// +optional
	RefusedCreates int32 `json:"refusedCreates,omitempty"`

	// managementPolicy is the spec.managementPolicy the operator last applied to the cloud
	// user: Observe while it only read the user into the status, Manage once it made,
	// adopted or took over the user. A VpnUser switched from Observe to Manage takes over
	// the user it observed (the same id, never a second user).
	// +optional
	ManagementPolicy ManagementPolicy `json:"managementPolicy,omitempty"`

	// lastHandledReconcileAt is the last value of the annotation
	// vpn.huaweicloud.io/reconcile-requested-at that the operator handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// recreations counts how often the cloud user was found deleted out of band and
	// created again; each attempt uses its own idempotency token.
	// +optional
	Recreations int32 `json:"recreations,omitempty"`

	// observedGeneration is the generation of the spec that was last fully processed.
	// It defaults to 0 on a new object, so that kstatus (Helm's --wait, Argo CD) sees a
	// VpnUser the operator has not reached yet as in progress, not as ready.
	// +optional
	// +kubebuilder:default=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (the summary), Reconciling and Stalled (as kstatus reads them).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// VpnUser is a user of a Huawei Cloud P2C (client-to-cloud) VPN server.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vpnu;vpnuser,categories=huaweicloud
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="User ID",type=string,JSONPath=`.status.id`
// +kubebuilder:printcolumn:name="Server",type=string,JSONPath=`.spec.vpnServerId`,priority=1
// +kubebuilder:printcolumn:name="Group",type=string,JSONPath=`.status.userGroupName`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="has(self.spec.userName) || (size(self.metadata.name) >= 4 && size(self.metadata.name) <= 32 && !self.metadata.name.startsWith('l3sw_') && !(self.metadata.name in ['link', 'cascade', 'securenat', 'localbridge', 'administrator']))",message="metadata.name is used as the cloud user name when spec.userName is not set, so it must then be 4 to 32 characters and not a reserved name; set spec.userName"
type VpnUser struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the desired state of the VPN user.
	// +required
	Spec VpnUserSpec `json:"spec"`

	// status is what the operator last saw of the cloud user.
	// +optional
	// +kubebuilder:default={}
	Status VpnUserStatus `json:"status,omitzero"`
}

// CloudUserName is the name of the user in the cloud: spec.userName, or metadata.name.
func (u *VpnUser) CloudUserName() string {
	if u.Spec.UserName != "" {
		return u.Spec.UserName
	}
	return u.Name
}

// +kubebuilder:object:root=true

// VpnUserList contains a list of VpnUser.
type VpnUserList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []VpnUser `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &VpnUser{}, &VpnUserList{})
		return nil
	})
}
