-- wrk script: POST /v1/events with batches of 500 random events, as fast as acknowledged.
local users = tonumber(os.getenv("FRESHREC_USERS") or "100000")
local counter = 0

function setup(thread)
  thread:set("seed", math.random(1, 1e9))
end

function init(args)
  math.randomseed(seed)
end

function request()
  local parts = {}
  for k = 1, 500 do
    counter = counter + 1
    parts[k] = string.format(
      '{"user_id":"u%d","item_id":"i%d","type":"click","event_id":"wrk-%d-%d"}',
      math.random(0, users - 1), math.random(0, 99999), seed, counter)
  end
  local body = "[" .. table.concat(parts, ",") .. "]"
  return wrk.format("POST", "/v1/events", {["Content-Type"] = "application/json"}, body)
end
