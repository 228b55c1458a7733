-- wrk script: authorization_code redemption (PKCE, public client, scope
-- openid: an access token and an ID token). Codes are single-use and live
-- 60 s: CODES_FILE (signin_setup.py codes) must hold more than the run
-- redeems; once it runs out the requests fail and wrk counts them non-2xx.
local codes, i, n = {}, 0, 0
local prefix

function init(args)
  for line in io.lines(os.getenv("CODES_FILE")) do
    if line ~= "" then n = n + 1; codes[n] = line end
  end
  prefix = "grant_type=authorization_code&client_id=" .. os.getenv("CLIENT_ID_ENC") ..
    "&redirect_uri=" .. os.getenv("REDIRECT_ENC") .. "&code_verifier=" .. os.getenv("VERIFIER") ..
    "&resource=" .. os.getenv("RESOURCE_ENC") .. "&code="
end

function request()
  i = i + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"},
    prefix .. (codes[i] or "exhausted"))
end

function done(summary, latency, requests)
  local ok = summary.requests - summary.errors.status
  io.write(string.format("  redeemed %d codes: %.0f/s\n", ok, ok / (summary.duration / 1e6)))
end
