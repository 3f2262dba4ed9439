-- wrk script: PUT a message with a fresh transaction id per request.
-- Needs the environment variables MYELIN_TOKEN and MYELIN_ROOM.
local counter = 0
local token = os.getenv("MYELIN_TOKEN")
local room = os.getenv("MYELIN_ROOM")
request = function()
  counter = counter + 1
  local path = "/_matrix/client/v3/rooms/" .. room .. "/send/m.room.message/wrk" .. tostring(math.random(1, 1e9)) .. "-" .. counter
  return wrk.format("PUT", path, { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, '{"msgtype":"m.text","body":"load test message"}')
end
