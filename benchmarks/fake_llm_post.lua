-- wrk script: non-streamed OpenAI chat completions against chorus-fake-llm, keep-alive.
-- The reply is the deterministic default answer (30-80 words), as in a workflow demo.
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer test-key"
wrk.body = '{"model":"gpt-4o-mini","messages":[' ..
  '{"role":"system","content":"You are a concise assistant."},' ..
  '{"role":"user","content":"Summarise the benefits of connection pooling for HTTP clients"}]}'

local non200 = 0
function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("wrk: %d requests, %.0f req/s, p50 %.0f us, p99 %.0f us, errors %d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout))
end
