-- wrk script: replays the requests listed in a file, then prints one JSON summary line.
--
--   wrk -t T -c C -d 15s -s bench/replay.lua http://127.0.0.1:PORT -- FILE T
--
-- FILE has one request per line, tab-separated: METHOD, PATH, bearer token or "-", JSON body
-- or "-". Thread k of T takes lines k, k+T, k+2T...: no line is sent by two threads, so POST
-- bodies carrying unique postal item numbers stay unique while the file lasts.
--
-- The summary counts the answers by status ("statuses"): a load whose traffic is meant to get
-- some 404s (unknown codes) is judged by the caller, not by wrk's count of statuses >= 400.

local thread_count = 0
local threads = {}

function setup(thread)
   thread:set("thread_index", thread_count)
   thread_count = thread_count + 1
   threads[#threads + 1] = thread
end

local prepared = {}
local position = 0

function init(args)
   local path, threads = args[1], tonumber(args[2] or "1")
   local line_number = 0
   for line in io.lines(path) do
      if line_number % threads == thread_index then
         local method, url, token, body = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)$")
         local headers = {}
         if token ~= "-" then
            headers["Authorization"] = "Bearer " .. token
         end
         if body == "-" then
            body = nil
         else
            headers["Content-Type"] = "application/json"
         end
         prepared[#prepared + 1] = wrk.format(method, url, headers, body)
      end
      line_number = line_number + 1
   end
   if #prepared == 0 then
      error("no request for thread " .. thread_index .. " in " .. path)
   end
end

function request()
   position = position % #prepared + 1
   return prepared[position]
end

statuses = {}

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

local function status_counts()
   local totals = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         totals[status] = (totals[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(totals) do
      parts[#parts + 1] = string.format('"%d": %d', status, count)
   end
   return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p95_us": %d, '
      .. '"p99_us": %d, "max_us": %d, "statuses": %s}\n',
      summary.requests, summary.duration, errors.connect, errors.read, errors.write,
      errors.status, errors.timeout, latency:percentile(50), latency:percentile(95),
      latency:percentile(99), latency.max, status_counts()))
end
