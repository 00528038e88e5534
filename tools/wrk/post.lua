-- wrk script: POST the body in $BODY with browser-like headers (the
-- collector parses the User-Agent and looks the X-Forwarded-For address up
-- when it trusts 127.0.0.1) and, when set, $AUTH as Authorization.
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
wrk.headers["Origin"] = "https://shop.example"
wrk.headers["X-Forwarded-For"] = "80.156.0.1"
if os.getenv("AUTH") and os.getenv("AUTH") ~= "" then
  wrk.headers["Authorization"] = os.getenv("AUTH")
end

local counts = {}
function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end
