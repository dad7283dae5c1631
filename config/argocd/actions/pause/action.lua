-- Pause: the operator makes no cloud call for this VpnUser until resumed.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["vpn.huaweicloud.io/paused"] = "true"
return obj
