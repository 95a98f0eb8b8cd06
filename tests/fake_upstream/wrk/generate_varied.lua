-- Like generate.lua, but every request has a different body, so no answer comes from the cache.
local counter = 0
local headers = {["Content-Type"] = "application/json", ["x-goog-api-key"] = "bench-key"}
request = function()
  counter = counter + 1
  local body = '{"contents":[{"role":"user","parts":[{"text":"Say hello to request number ' .. counter .. ', please."}]}]}'
  return wrk.format("POST", nil, headers, body)
end
