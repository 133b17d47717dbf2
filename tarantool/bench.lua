-- The benchmark server's schema and functions, run by loadtnt's embedded server
-- (loadtnt/server/embedded.py, via loadtnt.instance) after box.cfg and before listen.
-- Usable on its own too: dofile('tarantool/bench.lua') on a configured box.

local fiber = require('fiber')
local clock = require('clock')

box.once('loadtnt-bench-v1', function()
    -- the benchmarks run as guest; only 127.0.0.1 listens
    box.schema.user.grant('guest', 'read,write,execute', 'universe')
end)

local tester = box.schema.space.create('tester', {
    if_not_exists = true,
    format = {
        {name = 'id', type = 'unsigned'},
        {name = 'name', type = 'string'},
    },
})
tester:create_index('primary', {
    if_not_exists = true,
    type = 'tree',
    parts = {{field = 'id', type = 'unsigned'}},
})

-- the trivial function of the seed's `call` benchmark
function func_load(...)
    return ...
end

-- sleep(ms): yields for ms milliseconds (a slow request that does not block others)
function sleep(ms)
    fiber.sleep((ms or 0) / 1000)
    return true
end

-- stall(ms): blocks the tx thread for ms milliseconds without yielding (a server stall:
-- every request queued behind it waits)
function stall(ms)
    local deadline = clock.monotonic() + (ms or 0) / 1000
    while clock.monotonic() < deadline do end
    return true
end

-- stall_after(delay_ms, ms): a background fiber stalls the server once, delay_ms from now
function stall_after(delay_ms, ms)
    fiber.create(function()
        fiber.sleep(delay_ms / 1000)
        stall(ms)
    end)
    return true
end

-- counted(): a call the server counts itself, to check the harness's request count
local calls = 0
function counted()
    calls = calls + 1
    return calls
end

function counted_total()
    return calls
end

function counted_reset()
    calls = 0
    return true
end

-- prepare(n): `tester` holds exactly the keys 1..n (names 'name-<id>'); run before a benchmark
-- so inserts start from n + 1 and selects/updates find their keys
function prepare(n)
    n = n or 0
    if tester:len() ~= n or (n > 0 and tester.index.primary:max()[1] ~= n) then
        tester:truncate()
        box.begin()
        for id = 1, n do
            tester:replace({id, 'name-' .. id})
            if id % 10000 == 0 then
                box.commit()
                box.begin()
            end
        end
        box.commit()
    end
    return tester:len()
end

-- the temporary directory the harness made for this server (loadtnt-tnt-*: its work dir; a
-- replica set's member works in loadtnt-rs-*/<i>), or nil when it runs elsewhere
local function own_temp_dir()
    local fio = require('fio')
    local dir = box.cfg.work_dir
    if type(dir) ~= 'string' or dir == '' then
        return nil
    end
    if fio.basename(dir):match('^loadtnt%-tnt%-') then
        return dir
    end
    local parent = fio.dirname(dir)
    if fio.basename(parent):match('^loadtnt%-rs%-') then
        return parent
    end
    return nil
end

-- watch_parent(pid): exit when process pid (the harness that started this server) is gone, so a
-- harness killed with SIGKILL leaves no server behind, and no temporary directory either
function watch_parent(pid)
    local ffi = require('ffi')
    pcall(ffi.cdef, 'int kill(int pid, int sig);')
    fiber.create(function()
        fiber.name('loadtnt-watch-parent')
        while ffi.C.kill(pid, 0) == 0 do
            fiber.sleep(0.5)
        end
        local dir = own_temp_dir()
        if dir ~= nil then
            pcall(require('fio').rmtree, dir)
        end
        os.exit(0)
    end)
end
