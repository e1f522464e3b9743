-- wrk script: GET /v1/recommendations/<random user> at a paced rate.
-- Each connection waits `pace_ms` between requests, so C connections give C * 1000 / pace_ms
-- requests per second (a paced closed loop; see bench/http_load.py).
local users = tonumber(os.getenv("FRESHREC_USERS") or "100000")
local pace_ms = tonumber(os.getenv("FRESHREC_PACE_MS") or "20")
local key = os.getenv("FRESHREC_KEY")

function setup(thread)
  thread:set("seed", math.random(1, 1e9))
end

function init(args)
  math.randomseed(seed)
end

function delay()
  return pace_ms
end

function request()
  local path = "/v1/recommendations/u" .. math.random(0, users - 1) .. "?n=10"
  local headers = {}
  if key then headers["Authorization"] = "Bearer " .. key end
  return wrk.format("GET", path, headers)
end
