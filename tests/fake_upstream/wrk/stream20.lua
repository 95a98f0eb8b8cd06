-- wrk -s stream20.lua "http://127.0.0.1:8090/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
-- Asks for 20 stream events per call through the per-call header.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-goog-api-key"] = "bench-key"
wrk.headers["x-fake-stream-chunks"] = "20"
wrk.body = '{"contents":[{"role":"user","parts":[{"text":"Say hello to the benchmark in one short sentence."}]}]}'
