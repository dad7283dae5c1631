-- Argo CD health check for vpn.huaweicloud.io/VpnUser.
--
-- Runs in Argo CD's default Lua sandbox: only the base functions, package and table are
-- open (no string, no math), so it uses nothing but comparisons and "..".
--
--   Healthy      Ready is True for the current generation.
--   Suspended    Ready is False with reason Paused (annotation vpn.huaweicloud.io/paused).
--   Degraded     Stalled is True, or Ready is False with a reason that needs a person
--                (bad password or spec, name taken, credentials refused, server gone).
--   Progressing  anything else: no status yet, a generation not yet observed, waiting for
--                a Secret, the cloud busy or throttling, deletion under way.

local terminal = {
  InvalidPassword = true,
  PasswordRejected = true,
  InvalidSpec = true,
  NameConflict = true,
  CloudAuthFailed = true,
  ServerNotFound = true,
}

local function condition(conditions, type)
  for _, c in ipairs(conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

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
  return c.type .. " is " .. (c.status or "Unknown")
end

-- A condition is about the current spec when it carries no observedGeneration or the
-- object's generation.
local function current(c, generation)
  return c.observedGeneration == nil or generation == nil or c.observedGeneration == generation
end

local hs = {}
local generation = obj.metadata.generation
local status = obj.status

if status == nil or status.conditions == nil or #status.conditions == 0 then
  if obj.metadata.deletionTimestamp ~= nil then
    return { status = "Progressing", message = "Deleting" }
  end
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local ready = condition(status.conditions, "Ready")
local stalled = condition(status.conditions, "Stalled")
local reconciling = condition(status.conditions, "Reconciling")

if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  if ready ~= nil and ready.status == "False" then
    hs.message = "Deleting the cloud user: " .. describe(ready)
  else
    hs.message = "Deleting the cloud user"
  end
  return hs
end

if ready ~= nil and ready.status == "False" and ready.reason == "Paused" then
  hs.status = "Suspended"
  hs.message = describe(ready)
  return hs
end

if stalled ~= nil and stalled.status == "True" and current(stalled, generation) then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

if ready ~= nil and ready.status == "False" and terminal[ready.reason] and current(ready, generation) then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

local observed = status.observedGeneration
local observedCurrent = generation == nil or observed == generation

if ready ~= nil and ready.status == "True" and observedCurrent and current(ready, generation) then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
if ready ~= nil and ready.status == "False" and current(ready, generation) then
  hs.message = describe(ready)
elseif reconciling ~= nil and reconciling.status == "True" and current(reconciling, generation) then
  hs.message = describe(reconciling)
elseif generation ~= nil and not observedCurrent then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
elseif ready ~= nil then
  hs.message = describe(ready)
else
  hs.message = "Waiting for the Ready condition"
end
return hs
