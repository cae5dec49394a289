-- One benchmark case for wrk. Environment: BENCH_TOKENS (a file, one token per line: a different
-- token on every request, threads taking turns so none is sent twice, starting at line
-- BENCH_TOKENS_START + 1), BENCH_THREADS (wrk's -t),
-- BENCH_METHOD and BENCH_BODY (a JSON request). Prints one JSON line of results at the end.
local tokens_file = os.getenv("BENCH_TOKENS") or ""
local stride = tonumber(os.getenv("BENCH_THREADS") or "1")
local start = tonumber(os.getenv("BENCH_TOKENS_START") or "0")
local threads = {}

if (os.getenv("BENCH_METHOD") or "") ~= "" then
  wrk.method = os.getenv("BENCH_METHOD")
  wrk.body = os.getenv("BENCH_BODY")
  wrk.headers["Content-Type"] = "application/json"
end

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local tokens, position = nil, 1
wrapped = 0 -- global: done() reads it from each thread

function init(args)
  if tokens_file ~= "" then
    tokens = {}
    for line in io.lines(tokens_file) do
      tokens[#tokens + 1] = line
    end
    position = (start + id) % #tokens + 1
  end
end

function request()
  if tokens == nil then
    return wrk.request()
  end
  local token = tokens[position]
  position = position + stride
  if position > #tokens then
    position = (position - 1) % #tokens + 1
    wrapped = 1
  end
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  headers["Authorization"] = "Bearer " .. token
  return wrk.format(nil, nil, headers)
end

function done(summary, latency, requests)
  local any_wrapped = 0
  for _, thread in ipairs(threads) do
    any_wrapped = math.max(any_wrapped, thread:get("wrapped") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "tokens_wrapped": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), any_wrapped,
    e.connect, e.read, e.write, e.timeout, e.status))
end
