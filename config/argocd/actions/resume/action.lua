-- Resume: remove the pause; the operator reconciles the VpnUser at once.
if obj.metadata.annotations ~= nil then
  obj.metadata.annotations["vpn.huaweicloud.io/paused"] = nil
end
return obj
