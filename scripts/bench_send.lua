-- wrk script for scripts/bench_delivery.py --client wrk: secure sends (POST /api/v1/messages,
-- 10 KiB body, one e-mail recipient with a unique address), each thread stopping after its
-- quota of answers. Arguments (after --): token, run id, quota per thread, marker directory.
-- Any answer other than 201 is counted by wrk as an error and printed at the end.

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

function init(args)
   token = args[1]
   run = args[2]
   quota = tonumber(args[3])
   marker = args[4]
   sent = 0
   answered = 0
   created = 0
   math.randomseed(os.time() + tid * 7919)
   local letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
   bodies = {}
   for b = 1, 16 do
      local t = {}
      for i = 1, 10240 do
         local k = math.random(1, #letters)
         t[i] = letters:sub(k, k)
      end
      bodies[b] = table.concat(t)
   end
   headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
end

function request()
   sent = sent + 1
   local body = string.format(
      '{"subject":"bench %d-%d","body":"%s","reply":"off","recipients":' ..
      '[{"email":"r%d-%d-%s@example.nl","verification":"email"}]}',
      tid, sent, bodies[sent % 16 + 1], tid, sent, run)
   return wrk.format("POST", "/api/v1/messages", headers, body)
end

function response(status, headers, body)
   answered = answered + 1
   if status == 201 then
      created = created + 1
   end
   if answered == quota then
      -- wrk's main thread sleeps out -d even when every thread has stopped: this file tells
      -- bench_delivery.py to end it with SIGINT.
      local f = io.open(string.format("%s/done-%d", marker, tid), "w")
      f:close()
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local total = 0
   for _, t in ipairs(threads) do
      total = total + t:get("created")
   end
   io.write(string.format("ZEGEL_CREATED %d\n", total))
   io.write(string.format("ZEGEL_ERRORS %d\n", summary.errors.status + summary.errors.connect +
      summary.errors.read + summary.errors.write + summary.errors.timeout))
   io.write(string.format("ZEGEL_LATENCY_P50_US %d\n", latency:percentile(50)))
   io.write(string.format("ZEGEL_LATENCY_P99_US %d\n", latency:percentile(99)))
end
