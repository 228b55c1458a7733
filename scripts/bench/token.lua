-- wrk script: POST a form body to the token endpoint.
-- BODY and AUTH come from the environment (set by scripts/bench-token.sh).
-- No response() callback: it would make wrk itself the bottleneck. The
-- script checks one response of each run with curl beforehand, and wrk
-- reports non-2xx responses.
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local auth = os.getenv("AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
