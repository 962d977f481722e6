-- wrk: authenticated GET /api/workflows (a page of 20), keep-alive. See common.lua.
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")
wrk.method = "GET"
wrk.path = "/api/workflows?limit=20"
auth_headers()
