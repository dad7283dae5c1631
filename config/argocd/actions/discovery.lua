-- Argo CD resource actions for vpn.huaweicloud.io/VpnUser: which are offered.
-- pause sets the annotation vpn.huaweicloud.io/paused: "true" (the operator then makes no
-- cloud call for the object, its deletion included); resume removes it; reconcile sets
-- vpn.huaweicloud.io/reconcile-requested-at to the time, which makes the operator compare
-- the object with the cloud at once (status.lastHandledReconcileAt records the value). A
-- paused VpnUser does not handle that request, so reconcile is offered only unpaused.
-- Runs in Argo CD's default sandbox (base, package, table).
local actions = {}
local annotations = obj.metadata.annotations or {}
local paused = annotations["vpn.huaweicloud.io/paused"] == "true"
actions["pause"] = { ["disabled"] = paused, ["iconClass"] = "fa fa-fw fa-pause-circle", ["displayName"] = "Pause reconciliation" }
actions["resume"] = { ["disabled"] = not paused, ["iconClass"] = "fa fa-fw fa-play-circle", ["displayName"] = "Resume reconciliation" }
actions["reconcile"] = { ["disabled"] = paused, ["iconClass"] = "fa fa-fw fa-sync", ["displayName"] = "Reconcile now" }
return actions
