-- wrk script: every request is a distinct Docker Distribution push (its own event id, tag and
-- digest), as bench/pushes.py writes them.
--
--   wrk -t1 -c32 -d12s -s bench/push.lua URL -- RUN TOKEN PUSH_SECONDS REPOSITORIES PREFIX REGISTRY
--
-- Connections send pushes for PUSH_SECONDS after their first request, then wait (delay) until
-- wrk stops: run wrk a little longer than that, so that no push is in flight when it stops and
-- every push sent is answered and counted. done() prints one line "BENCH-RESULT {json}".

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  run, token = args[1], args[2]
  push_seconds, repositories = tonumber(args[3]), tonumber(args[4])
  prefix, registry = args[5], args[6]
  sent, ok, not_ok = 0, 0, 0
  first, last, cutoff = 0, 0, nil
  headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/vnd.docker.distribution.events.v1+json",
  }
  template = '{"events": [{"id": "%s-%d", "timestamp": "%s", "action": "push", '
    .. '"target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 422, '
    .. '"digest": "%s", "repository": "%s", "url": "http://%s/v2/%s/manifests/%s", '
    .. '"tag": "1.0.%d"}, "request": {"host": "%s", "method": "PUT", '
    .. '"useragent": "regdeploy-bench"}, "actor": {}, "source": {"addr": "bench:5000"}}]}'
end

function delay()
  if cutoff ~= nil and now() >= cutoff then
    return 3600000
  end
  return 0
end

function request()
  if cutoff == nil then
    first = now()
    cutoff = first + push_seconds
  end
  -- thread_index keeps the threads' pushes apart when wrk runs more than one
  local index = sent * 64 + thread_index
  sent = sent + 1
  local digest = string.format("sha256:%s%056x", run, index)
  local repository = prefix .. tostring(index % repositories)
  local body = string.format(template, run, index, os.date("!%Y-%m-%dT%H:%M:%SZ"), digest,
    repository, registry, repository, digest, index, registry)
  return wrk.format("POST", nil, headers, body)
end

function response(status, response_headers, body)
  last = now()
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    not_ok = not_ok + 1
  end
end

function done(summary, latency, requests)
  local sent_all, ok_all, not_ok_all, first_all, last_all = 0, 0, 0, nil, 0
  for _, thread in ipairs(threads) do
    sent_all = sent_all + thread:get("sent")
    ok_all = ok_all + thread:get("ok")
    not_ok_all = not_ok_all + thread:get("not_ok")
    local started = thread:get("first")
    if started > 0 and (first_all == nil or started < first_all) then
      first_all = started
    end
    last_all = math.max(last_all, thread:get("last"))
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"sent": %d, "ok": %d, "non_2xx": %d, "seconds": %.6f, '
      .. '"p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "connect_errors": %d, '
      .. '"read_errors": %d, "write_errors": %d, "timeouts": %d}\n',
    sent_all, ok_all, not_ok_all, last_all - (first_all or last_all),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    errors.connect, errors.read, errors.write, errors.timeout))
end
