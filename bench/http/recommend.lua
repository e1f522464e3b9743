-- wrk script: GET /v1/recommendations/<random user> at a paced rate.
--
-- Pacing keeps a schedule instead of sleeping a fixed time between requests: a fixed sleep
-- adds the response time to every period, so C connections fell short of C * 1000 / pace_ms
-- (10 x 20 ms gave ~470 req/s, not 500). Here send slots are `interval` apart on the
-- monotonic clock and each delay() waits until the next slot (0 when it is already due), so
-- the achieved rate is the target whenever the server keeps up. wrk calls delay() in the
-- thread's Lua state with no handle on the connection, so the schedule is per wrk thread and
-- a slot goes to whichever connection asks next: the slots stay evenly spaced, and a slow
-- answer on one connection is covered by the others (a paced closed loop; bench/http_load.py).
-- Slots missed while every connection was busy are sent as soon as possible afterwards, so a
-- server that falls behind shows as a rate below the target, never as a hidden stretched pace.
--
-- FRESHREC_RATE: requests/s over the whole run; FRESHREC_THREADS: the wrk -t given (each
-- thread keeps its share of the rate).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } freshrec_timespec;
int clock_gettime(int clock_id, freshrec_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("freshrec_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1e3 + tonumber(clock.tv_nsec) * 1e-6
end

local users = tonumber(os.getenv("FRESHREC_USERS") or "100000")
local key = os.getenv("FRESHREC_KEY")
local rate = tonumber(os.getenv("FRESHREC_RATE") or "500")
local threads = tonumber(os.getenv("FRESHREC_THREADS") or "1")
local interval_ms = 1000 * threads / rate
local next_ms = nil -- the next send slot; starts at the first delay() call

function setup(thread)
  thread:set("seed", math.random(1, 1e9))
end

function init(args)
  math.randomseed(seed)
end

function delay()
  local now = now_ms()
  next_ms = next_ms or now
  local wait = next_ms - now
  next_ms = next_ms + interval_ms
  -- wrk takes whole milliseconds; rounding errs by < 0.5 ms per request and never adds up,
  -- because the next slot is computed from the schedule, not from when this one was sent.
  return wait > 0 and math.floor(wait + 0.5) or 0
end

function request()
  local path = "/v1/recommendations/u" .. math.random(0, users - 1) .. "?n=10"
  local headers = {}
  if key then headers["Authorization"] = "Bearer " .. key end
  return wrk.format("GET", path, headers)
end
