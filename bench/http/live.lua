-- wrk script: GET /health/live at the same paced rate (the framework floor, a peer).
-- Pacing: see bench/http/recommend.lua (the same schedule, kept in sync by hand: wrk loads
-- one script file, so the pacer is repeated rather than shared).
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

local rate = tonumber(os.getenv("FRESHREC_RATE") or "500")
local threads = tonumber(os.getenv("FRESHREC_THREADS") or "1")
local interval_ms = 1000 * threads / rate
local next_ms = nil

function delay()
  local now = now_ms()
  next_ms = next_ms or now
  local wait = next_ms - now
  next_ms = next_ms + interval_ms
  return wait > 0 and math.floor(wait + 0.5) or 0
end

function request()
  return wrk.format("GET", "/health/live")
end
