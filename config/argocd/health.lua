-- Argo CD health check for vpn.huaweicloud.io/VpnUser.
--
-- Runs in Argo CD's default Lua sandbox: only the base functions, package and table are
-- open (no string, no math), so it uses nothing but comparisons and "..".
--
-- It reads a VpnUser as kstatus does (sigs.k8s.io/cli-utils: Helm's --wait, Flux), in the
-- same order, so that Argo CD and helm --wait agree (health_kstatus_test.go checks it):
--   Suspended    the annotation vpn.huaweicloud.io/paused is "true": at once, before the
--                operator reports the pause (or while it is down), since it is the
--                user's stated intent. kstatus has no such status.
--   Progressing  being deleted (kstatus Terminating), status.observedGeneration behind
--                the generation, Reconciling True, Ready False or Unknown (kstatus
--                InProgress); no condition at all yet (kstatus Current: it cannot tell).
--   Degraded     Stalled True (kstatus Failed): the password, the spec, the name, the
--                credentials or the server need a person.
--   Healthy      Ready True (kstatus Current).

-- "Reason: message", or whichever of the two is set.
local function describe(c)
  local reason = c.reason or ""
  local message = c.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  if message ~= "" then
    return message
  end
  if reason ~= "" then
    return reason
  end
  return (c.type or "Condition") .. " is " .. (c.status or "Unknown")
end

local function condition(conditions, type)
  for _, c in ipairs(conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local metadata = obj.metadata or {}
local annotations = metadata.annotations or {}
local status = obj.status or {}
local conditions = status.conditions or {}
local ready = condition(conditions, "Ready")

if annotations["vpn.huaweicloud.io/paused"] == "true" then
  if ready ~= nil and ready.status == "False" and ready.reason == "Paused" then
    return { status = "Suspended", message = describe(ready) }
  end
  return { status = "Suspended", message = "Paused by the annotation vpn.huaweicloud.io/paused; the operator has not reported it yet" }
end

if metadata.deletionTimestamp ~= nil then
  if ready ~= nil and ready.status == "False" then
    return { status = "Progressing", message = "Deleting the cloud user: " .. describe(ready) }
  end
  return { status = "Progressing", message = "Deleting the cloud user" }
end

if #conditions == 0 then
  return { status = "Progressing", message = "Waiting for the operator to report status" }
end

local generation = metadata.generation
local observed = status.observedGeneration
if generation ~= nil and observed ~= nil and observed ~= generation then
  -- The operator records observedGeneration once it is done with a spec: while it waits
  -- (a Secret, the cloud) its conditions of this generation tell why.
  if ready ~= nil and ready.status == "False" and ready.observedGeneration == generation then
    return { status = "Progressing", message = describe(ready) }
  end
  return { status = "Progressing", message = "Waiting for the operator to observe generation " .. tostring(generation) }
end

-- The first Reconciling or Stalled condition that is True decides, as in kstatus.
for _, c in ipairs(conditions) do
  if c.type == "Reconciling" and c.status == "True" then
    return { status = "Progressing", message = describe(c) }
  end
  if c.type == "Stalled" and c.status == "True" then
    return { status = "Degraded", message = describe(c) }
  end
end

for _, c in ipairs(conditions) do
  if c.type == "Ready" then
    if c.status == "True" then
      return { status = "Healthy", message = describe(c) }
    end
    if c.status == "False" or c.status == "Unknown" then
      return { status = "Progressing", message = describe(c) }
    end
  end
end

return { status = "Progressing", message = "Waiting for the Ready condition" }
