#!/usr/bin/env tarantool
-- Closed-loop crud load through Tarantool's own net.box client (bench/crud_bench.py's
-- reference point). Run as a client process with the tarantool binary (no box.cfg):
--   LOADTNT_BENCH_USER=u LOADTNT_BENCH_PASSWORD=p \
--   tarantool bench/crud_netbox_bench.lua PORT OP FIBERS WARMUP_S DURATION_S NKEYS KEY_BASE
-- OP is get or insert (crud.get / crud.insert on space `customers`); FIBERS fibers share ONE
-- connection. Prints WINDOW-START and WINDOW-END when the measured window starts and ends
-- (the orchestrator samples CPU then), then one JSON line {"requests", "elapsed", "errors"}.

local fiber = require('fiber')
local clock = require('clock')
local json = require('json')
local net_box = require('net.box')

local port = tonumber(arg[1])
local op = arg[2]
local nfibers = tonumber(arg[3] or 300)
local warmup = tonumber(arg[4] or 0.5)
local duration = tonumber(arg[5] or 2)
local nkeys = tonumber(arg[6] or 10000)
local key_base = tonumber(arg[7] or 1000000000)

local conn = net_box.connect('127.0.0.1:' .. port, {
    user = os.getenv('LOADTNT_BENCH_USER'), password = os.getenv('LOADTNT_BENCH_PASSWORD'),
    wait_connected = 10,
})
if not conn:is_connected() then
    io.stderr:write('cannot connect to 127.0.0.1:' .. port .. ': ' .. tostring(conn.error) .. '\n')
    os.exit(1)
end

local requests = {
    get = function(f, i)
        local res, err = conn:call('crud.get', {'customers', (f * 7919 + i * 104729) % nkeys + 1})
        if err ~= nil then error(err) end
        return res
    end,
    insert = function(f, i)
        local res, err = conn:call('crud.insert',
            {'customers', {key_base + i * nfibers + f, box.NULL, 'fresh', 30}})
        if err ~= nil then error(err) end
        return res
    end,
}
local request = requests[op]
if request == nil then
    io.stderr:write('unknown op ' .. tostring(op) .. '\n')
    os.exit(2)
end

local count, errors, stop, running = 0, 0, false, nfibers
local last_error = nil
local function worker(f)
    local i = 0
    while not stop do
        local ok, err = pcall(request, f, i)
        if ok then
            count = count + 1
        else
            errors = errors + 1
            last_error = tostring(err)
        end
        i = i + 1
    end
    running = running - 1
end

for f = 1, nfibers do
    fiber.create(worker, f)
end
fiber.sleep(warmup)
local c0, e0, t0 = count, errors, clock.monotonic()
print('WINDOW-START')
io.stdout:flush()
fiber.sleep(duration)
local c1, e1, t1 = count, errors, clock.monotonic()
print('WINDOW-END')
io.stdout:flush()
stop = true
while running > 0 do
    fiber.sleep(0.01)
end
conn:close()
print(json.encode({requests = c1 - c0, elapsed = t1 - t0, errors = e1 - e0,
                   last_error = last_error, version = 'net.box'}))
io.stdout:flush()
os.exit(0)
