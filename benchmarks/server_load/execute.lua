-- wrk: authenticated POST /api/workflows/:id/execute (202, the run goes on in the background),
-- keep-alive. The workflow id comes from LOAD_WORKFLOW. See common.lua.
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")
wrk.method = "POST"
wrk.path = "/api/workflows/" .. os.getenv("LOAD_WORKFLOW") .. "/execute"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"input":"load test"}'
auth_headers()
