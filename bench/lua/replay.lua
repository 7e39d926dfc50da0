-- Replays the request lines of BENCH_LINES (METHOD \t PATH \t BODY), counts statuses and,
-- with BENCH_TRACK=1, records who each 200 identify answer was for; done() writes a JSON
-- summary to BENCH_OUT and the acknowledgements to BENCH_OUT .. ".acks".
local lines = {}
local pos = 0
wraps = 0
acks = {}
statuses = {}
local track = os.getenv("BENCH_TRACK") == "1"
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  local index = 0
  for line in io.lines(os.getenv("BENCH_LINES")) do
    if index % nthreads == tid then
      local method, path, body = line:match("^(%u+)\t([^\t]*)\t(.*)$")
      local headers = {}
      if body == "" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      lines[#lines + 1] = wrk.format(method, path, headers, body)
    end
    index = index + 1
  end
end

function request()
  pos = pos + 1
  if pos > #lines then
    pos = 1
    wraps = wraps + 1
  end
  return lines[pos]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if track and status == 200 then
    local user = body:match('"user_id":"([^"]*)"') or ""
    local visitor = body:match('"visitor_id":"([^"]*)"') or ""
    local slot = body:match('"(bench_slot%d)"') or ""
    acks[#acks + 1] = user .. "|" .. visitor .. "|" .. slot
  end
end

function done(summary, latency, requests)
  local merged = {}
  local total_wraps = 0
  local ackfile = io.open(os.getenv("BENCH_OUT") .. ".acks", "w")
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + count
    end
    total_wraps = total_wraps + thread:get("wraps")
    for _, ack in ipairs(thread:get("acks")) do
      ackfile:write(ack, "\n")
    end
  end
  ackfile:close()
  local parts = {}
  for status, count in pairs(merged) do
    parts[#parts + 1] = string.format('"%d": %d', status, count)
  end
  local e = summary.errors
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "wraps": %d, "statuses": {%s}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p95": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, total_wraps, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean))
  out:close()
end
