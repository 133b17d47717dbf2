-- The reference client of tests/test_crud.py: Tarantool's own net.box calls crud on a router.
--
--   LOADTNT_ROUTER=host:port LOADTNT_USER=u LOADTNT_PASSWORD=p tarantool crud_reference.lua STEPS.json
--
-- STEPS.json: [[func, args, call_timeout_or_null], ...]. Each step is
-- conn:call(func, args) - args with {"$ref": [step, row]} replaced by that row of an earlier
-- step's result - and its outcome is printed as one JSON line:
--   {"ok": true, "values": [res, err]}  or  {"ok": false, "error": "<the Lua error>"}
local json = require('json')
local netbox = require('net.box')
local fio = require('fio')

json.cfg{encode_invalid_as_nil = true, encode_use_tostring = true}

local f = fio.open(arg[1], {'O_RDONLY'})
local steps = json.decode(f:read())
f:close()

local conn = netbox.connect(os.getenv('LOADTNT_ROUTER'), {
    user = os.getenv('LOADTNT_USER'), password = os.getenv('LOADTNT_PASSWORD'),
    wait_connected = 10,
})
assert(conn:ping(), 'cannot connect to the router')

local results = {}

local function resolve(v)
    if type(v) ~= 'table' then return v end
    if v['$ref'] ~= nil then
        local ref = v['$ref']
        local res = results[ref[1] + 1]
        return res.values[1].rows[ref[2] + 1]
    end
    local out = {}
    for k, x in pairs(v) do out[k] = resolve(x) end
    return setmetatable(out, getmetatable(v))
end

for _, step in ipairs(steps) do
    local func, args, timeout = step[1], resolve(step[2]), step[3]
    local opts = nil
    if timeout ~= nil and timeout ~= json.NULL then opts = {timeout = timeout} end
    local r = {pcall(conn.call, conn, func, args, opts)}
    local out
    if r[1] then
        out = {ok = true, values = {r[2] == nil and json.NULL or r[2],
                                    r[3] == nil and json.NULL or r[3]}}
    else
        out = {ok = false, error = tostring(r[2])}
    end
    table.insert(results, out)
    print(json.encode(out))
end
conn:close()
os.exit(0)
