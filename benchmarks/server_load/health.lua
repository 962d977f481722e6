-- wrk: GET /api/health (no authentication; a storage ping), keep-alive. See common.lua.
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")
wrk.method = "GET"
wrk.path = "/api/health"
