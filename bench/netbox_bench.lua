#!/usr/bin/env tarantool
-- Closed-loop load through Tarantool's own net.box client, the reference point for
-- loadtnt.driver (design.md: >= 0.6x net.box ping, >= 0.8x net.box select).
--
-- Run as a client process with the tarantool binary (no box.cfg: net.box alone):
--   tarantool bench/netbox_bench.lua PORT OP FIBERS WARMUP_S DURATION_S NKEYS KEY_BASE
-- OP is one of ping, call, eval, select, insert, update, on the server that
-- bench/driver_bench.py starts (space `tester` prefilled with keys 1..NKEYS,
-- function `bench_call`). FIBERS fibers share ONE connection, as the Python drivers'
-- coroutines do. Prints one JSON line: {"requests": n, "elapsed": s, "errors": n}
-- for the measured window after the warm-up.

local fiber = require('fiber')
local clock = require('clock')
local json = require('json')
local net_box = require('net.box')

local port = tonumber(arg[1])
local op = arg[2]
local nfibers = tonumber(arg[3] or 300)
local warmup = tonumber(arg[4] or 0.5)
local duration = tonumber(arg[5] or 2)
local nkeys = tonumber(arg[6] or 100000)
local key_base = tonumber(arg[7] or 1000000000)

local conn = net_box.connect('127.0.0.1:' .. port, {wait_connected = true})
if not conn:is_connected() then
    io.stderr:write('cannot connect to 127.0.0.1:' .. port .. ': ' .. tostring(conn.error) .. '\n')
    os.exit(1)
end
local tester = conn.space.tester

-- One request of the operation; `i` is the fiber's running request number and
-- `f` the fiber number, so select/update spread over the keys and inserts never collide.
local requests = {
    ping = function() return conn:ping() end,
    call = function() return conn:call('bench_call') end,
    eval = function() return conn:eval('return ...', {1}) end,
    select = function(f, i) return tester:select{(f * 7919 + i * 104729) % nkeys + 1} end,
    insert = function(f, i) return tester:insert{key_base + i * nfibers + f, 'fresh'} end,
    update = function(f, i)
        return tester:update((f * 7919 + i * 104729) % nkeys + 1, {{'=', 2, 'updated'}})
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
-- os.clock(): this process's CPU seconds (the client's cost, as the Python clients report it)
local c0, e0, t0, cpu0 = count, errors, clock.monotonic(), os.clock()
fiber.sleep(duration)
local c1, e1, t1, cpu1 = count, errors, clock.monotonic(), os.clock()
stop = true
while running > 0 do
    fiber.sleep(0.01)
end
conn:close()
print(json.encode({
    requests = c1 - c0, elapsed = t1 - t0, errors = e1 - e0, last_error = last_error,
    client_cores = (cpu1 - cpu0) / (t1 - t0),
}))
os.exit(0)
