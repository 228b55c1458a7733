-- wrk script: the refresh_token grant with rotation. Each request takes a
-- refresh token from a pool (REFRESH_FILE, written by signin_setup.py) and
-- each 200 puts the rotated token back, so no token is presented twice
-- (that would be reuse). The pool is larger than the connection count.
-- CLIENT_ID and RESOURCE come from the environment.
local pool, n = {}, 0
local prefix

function init(args)
  for line in io.lines(os.getenv("REFRESH_FILE")) do
    if line ~= "" then n = n + 1; pool[n] = line end
  end
  prefix = "grant_type=refresh_token&client_id=" .. os.getenv("CLIENT_ID_ENC") ..
    "&resource=" .. os.getenv("RESOURCE_ENC") .. "&refresh_token="
end

function request()
  local t = pool[n]
  pool[n] = nil
  n = n - 1
  if t == nil then t = "exhausted"; n = 0 end
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, prefix .. t)
end

function response(status, headers, body)
  if status == 200 then
    local t = body:match('"refresh_token":"([^"]+)"')
    if t then n = n + 1; pool[n] = t end
  end
end
