-- Reconcile now: a new value of the annotation reconcile-requested-at makes the operator
-- compare the VpnUser with the cloud at once; status.lastHandledReconcileAt shows it done.
-- os is Argo CD's safe subset (date and time), loaded with require.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["vpn.huaweicloud.io/reconcile-requested-at"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
