-- wrk script: GET /health/live at the same paced rate (the framework floor, a peer).
local pace_ms = tonumber(os.getenv("FRESHREC_PACE_MS") or "20")

function delay()
  return pace_ms
end

function request()
  return wrk.format("GET", "/health/live")
end
