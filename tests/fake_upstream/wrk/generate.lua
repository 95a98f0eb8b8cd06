-- wrk -s generate.lua http://127.0.0.1:8090/v1beta/models/gemini-2.5-flash:generateContent
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-goog-api-key"] = "bench-key"
wrk.body = '{"contents":[{"role":"user","parts":[{"text":"Say hello to the benchmark in one short sentence."}]}]}'
