-- wrk script for scripts/bench.sh. What to send comes from the environment:
--
--   BENCH_MODE=get      GET the URL given to wrk (BENCH_BEARER adds a bearer token)
--   BENCH_MODE=post     POST BENCH_BODY with Content-Type BENCH_CONTENT_TYPE
--                       (BENCH_AUTHORIZATION, when set, is sent as the whole
--                       Authorization header: `Basic …` for client credentials)
--   BENCH_MODE=refresh  POST /auth/refresh; each wrk thread drives ONE connection
--                       (run wrk with -t N -c N) that follows its own chain of
--                       refresh tokens, starting from line i of BENCH_TOKENS.
--                       A failed refresh keeps the old token, whose next use is a
--                       reuse: sigil revokes the family and the chain fails from
--                       then on, so every error shows.
--
-- At the end wrk prints one line of key=value pairs: requests, rps, p50_ms,
-- p99_ms and errors (connect, read, write, timeout, and any status >= 400).

local mode = os.getenv("BENCH_MODE") or "get"

local bearer = os.getenv("BENCH_BEARER")
if bearer and bearer ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. bearer
end

local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end

if mode == "post" then
  wrk.method = "POST"
  wrk.body = os.getenv("BENCH_BODY")
  wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE")
elseif mode == "refresh" then
  local tokens = {}
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    tokens[#tokens + 1] = line
  end
  local next_token = 1

  -- Runs in the main Lua state, once per thread, before any request.
  function setup(thread)
    assert(tokens[next_token], "fewer BENCH_TOKENS than wrk threads")
    thread:set("token", tokens[next_token])
    next_token = next_token + 1
  end

  local headers = { ["Content-Type"] = "application/json" }

  -- Called for every request of this thread's one connection, after the
  -- response to the previous one (no pipelining), so `token` is the newest.
  function request()
    return wrk.format("POST", "/auth/refresh", headers, '{"refresh_token":"' .. token .. '"}')
  end

  function response(status, _, body)
    if status == 200 then
      token = body:match('"refresh_token"%s*:%s*"([%w_%-]+)"') or token
    end
  end
elseif mode ~= "get" then
  error("unknown BENCH_MODE " .. mode)
end

function done(summary, latency, _)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests,
    summary.requests / seconds,
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    errors
  ))
end
