%% The asyncio event loop inside the VM, on loops of both modes: sockets
%% (TCP, UDP, Unix), many tasks from many processes, cancellation,
%% exceptions, gather and wait_for, erlang.sleep in both forms, the Erlang
%% task API (main loop, pool, py:async_*), the sandbox.
-module(py_event_loop_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(PY_OWN_INIT_PER_TESTCASE, true).
-define(PY_OWN_END_PER_TESTCASE, true).
-define(PY_BOTH_MODES, <<>>).
-include("py_suite.hrl").

all() ->
    [{group, worker}, {group, owngil}, main_loop_api, async_call_and_gather, pool_affinity_and_kwargs,
     sandbox_blocks_process_creation, erlang_run_inside_a_call, blocking_sleep_is_interruptible,
     stopping_a_loop_cancels_its_tasks].

groups() ->
    py_test_groups:both_modes(
      [tcp_echo_server_and_client, udp_round_trip, unix_sockets, thousand_tasks_from_hundred_processes,
       exceptions_and_cancellation_in_tasks, gather_and_wait_for, erlang_sleep_awaitable,
       callbacks_from_coroutines, context_serves_calls_while_the_loop_runs, spawn_task_from_python,
       namespaces_per_process, warnings_raised_in_loop_frames, tasks_survive_garbage_collection]).

init_per_testcase(_Case, Config) ->
    case ?config(mode, Config) of
        undefined ->
            Config;
        Mode ->
            {ok, Loop} = py_event_loop:new(#{mode => Mode}),
            [{loop, Loop} | Config]
    end.

end_per_testcase(_Case, Config) ->
    case ?config(loop, Config) of
        undefined -> ok;
        Loop -> py_event_loop:stop(Loop)
    end.

exec(Config, Code) ->
    ok = py_event_loop:exec(?config(loop, Config), Code).

run(Config, Function, Args) ->
    py_event_loop:run(?config(loop, Config), '__main__', Function, Args, #{timeout => 30000}).

%%% ---------------------------------------------------------------------
%%% On a loop of the group's mode
%%% ---------------------------------------------------------------------

tcp_echo_server_and_client(Config) ->
    exec(Config, <<"import asyncio\n"
                   "async def echo(r, w):\n"
                   "    while data := await r.read(65536):\n"
                   "        w.write(data)\n"
                   "        await w.drain()\n"
                   "    w.close()\n"
                   "async def serve_and_talk(n, size):\n"
                   "    srv = await asyncio.start_server(echo, '127.0.0.1', 0)\n"
                   "    port = srv.sockets[0].getsockname()[1]\n"
                   "    r, w = await asyncio.open_connection('127.0.0.1', port)\n"
                   "    total = 0\n"
                   "    for i in range(n):\n"
                   "        w.write(bytes([i % 256]) * size)\n"
                   "        got = await r.readexactly(size)\n"
                   "        assert got == bytes([i % 256]) * size\n"
                   "        total += len(got)\n"
                   "    w.close(); await w.wait_closed()\n"
                   "    srv.close(); await srv.wait_closed()\n"
                   "    return total\n">>),
    ?assertEqual({ok, 1000 * 1024}, run(Config, serve_and_talk, [1000, 1024])).

udp_round_trip(Config) ->
    exec(Config, <<"import asyncio\n"
                   "class Upper(asyncio.DatagramProtocol):\n"
                   "    def connection_made(self, t): self.t = t\n"
                   "    def datagram_received(self, data, addr): self.t.sendto(data.upper(), addr)\n"
                   "async def udp(words):\n"
                   "    loop = asyncio.get_running_loop()\n"
                   "    st, _ = await loop.create_datagram_endpoint(Upper, local_addr=('127.0.0.1', 0))\n"
                   "    addr = st.get_extra_info('sockname')\n"
                   "    replies = asyncio.Queue()\n"
                   "    class Client(asyncio.DatagramProtocol):\n"
                   "        def datagram_received(self, data, a): replies.put_nowait(data)\n"
                   "    ct, _ = await loop.create_datagram_endpoint(Client, remote_addr=addr)\n"
                   "    out = []\n"
                   "    for w in words:\n"
                   "        ct.sendto(w.encode())\n"
                   "        out.append(await asyncio.wait_for(replies.get(), 10))\n"
                   "    ct.close(); st.close()\n"
                   "    return out\n">>),
    ?assertEqual({ok, [<<"ONE">>, <<"TWO">>]}, run(Config, udp, [[<<"one">>, <<"two">>]])).

unix_sockets(Config) ->
    exec(Config, <<"import asyncio, os, tempfile\n"
                   "async def unix():\n"
                   "    path = os.path.join(tempfile.mkdtemp(), 'sock')\n"
                   "    async def handle(r, w):\n"
                   "        w.write((await r.readline()).upper()); await w.drain(); w.close()\n"
                   "    srv = await asyncio.start_unix_server(handle, path)\n"
                   "    r, w = await asyncio.open_unix_connection(path)\n"
                   "    w.write(b'over unix\\n')\n"
                   "    line = await r.readline()\n"
                   "    w.close(); await w.wait_closed(); srv.close(); await srv.wait_closed()\n"
                   "    return line\n">>),
    ?assertEqual({ok, <<"OVER UNIX\n">>}, run(Config, unix, [])).

thousand_tasks_from_hundred_processes(Config) ->
    Loop = ?config(loop, Config),
    exec(Config, <<"import asyncio\n"
                   "async def job(p, i):\n"
                   "    await asyncio.sleep(0.001)\n"
                   "    return (p, i)\n">>),
    %% Every process needs the function in its own namespace: define it in
    %% a module-level place instead.
    exec(Config, <<"import sys, types\n"
                   "m = sys.modules.setdefault('loop_suite_jobs', types.ModuleType('loop_suite_jobs'))\n"
                   "m.job = job\n">>),
    Parent = self(),
    Pids = [spawn_link(fun() ->
                               Refs = [{I, py_event_loop:create_task(Loop, loop_suite_jobs, job, [P, I], #{})}
                                       || I <- lists:seq(1, 10)],
                               Results = [{I, py_event_loop:await(R, 30000)} || {I, R} <- Refs],
                               Parent ! {done, self(), [R =:= {ok, {P, I}} || {I, R} <- Results]}
                       end) || P <- lists:seq(1, 100)],
    Oks = lists:append([receive {done, Pid, L} -> L end || Pid <- Pids]),
    ?assertEqual(1000, length(Oks)),
    ?assert(lists:all(fun(X) -> X end, Oks)).

exceptions_and_cancellation_in_tasks(Config) ->
    exec(Config, <<"import asyncio\n"
                   "async def fails():\n"
                   "    await asyncio.sleep(0)\n"
                   "    raise ValueError('broken task')\n"
                   "def fails_now():\n"
                   "    raise KeyError('k')\n"
                   "async def cancels_itself():\n"
                   "    asyncio.current_task().cancel()\n"
                   "    await asyncio.sleep(1)\n"
                   "async def cleanup_on_cancel():\n"
                   "    seen = []\n"
                   "    async def worker():\n"
                   "        try:\n"
                   "            await asyncio.sleep(60)\n"
                   "        finally:\n"
                   "            seen.append('finally')\n"
                   "    t = asyncio.ensure_future(worker())\n"
                   "    await asyncio.sleep(0)\n"
                   "    t.cancel()\n"
                   "    try:\n"
                   "        await t\n"
                   "    except asyncio.CancelledError:\n"
                   "        seen.append('cancelled')\n"
                   "    return seen\n">>),
    ?assertEqual({error, {'ValueError', "broken task"}}, run(Config, fails, [])),
    ?assertEqual({error, {'KeyError', "'k'"}}, run(Config, fails_now, [])),
    ?assertEqual({error, cancelled}, run(Config, cancels_itself, [])),
    ?assertEqual({ok, [<<"finally">>, <<"cancelled">>]}, run(Config, cleanup_on_cancel, [])).

gather_and_wait_for(Config) ->
    exec(Config, <<"import asyncio\n"
                   "async def sq(i):\n"
                   "    await asyncio.sleep(0.001 * (5 - i))\n"
                   "    return i * i\n"
                   "async def gathered():\n"
                   "    return await asyncio.gather(*(sq(i) for i in range(5)))\n"
                   "async def times_out():\n"
                   "    try:\n"
                   "        await asyncio.wait_for(asyncio.sleep(30), 0.01)\n"
                   "    except TimeoutError:\n"
                   "        return 'timed out'\n">>),
    ?assertEqual({ok, [0, 1, 4, 9, 16]}, run(Config, gathered, [])),
    ?assertEqual({ok, <<"timed out">>}, run(Config, times_out, [])).

erlang_sleep_awaitable(Config) ->
    exec(Config, <<"import asyncio, time\n"
                   "async def naps():\n"
                   "    t0 = time.monotonic()\n"
                   "    await erlang.sleep(0.02)\n"
                   "    return time.monotonic() - t0 >= 0.02\n">>),
    ?assertEqual({ok, true}, run(Config, naps, [])).

callbacks_from_coroutines(Config) ->
    ok = py:register_function(loop_double, fun([X]) -> 2 * X end),
    exec(Config, <<"import asyncio\n"
                   "async def both(x):\n"
                   "    a = await erlang.async_call('loop_double', x)\n"
                   "    b = erlang.call('loop_double', a)\n"
                   "    return (a, b)\n">>),
    ?assertEqual({ok, {10, 20}}, run(Config, both, [5])).

context_serves_calls_while_the_loop_runs(Config) ->
    Loop = ?config(loop, Config),
    %% A task keeps the loop busy awaiting; ordinary calls still go through
    %% and see the running loop.
    exec(Config, <<"import asyncio\n"
                   "gate = None\n"
                   "async def waits(pid):\n"
                   "    global gate\n"
                   "    gate = asyncio.get_running_loop().create_future()\n"
                   "    erlang.send(pid, 'waiting')\n"
                   "    return await gate\n">>),
    Ref = py_event_loop:create_task(Loop, '__main__', waits, [self()], #{}),
    receive <<"waiting">> -> ok after 10000 -> ct:fail(task_did_not_start) end,
    ?assertEqual({ok, true}, py_event_loop:eval(Loop, <<"__import__('asyncio').get_running_loop().is_running()">>)),
    %% Open the gate from an ordinary call, in the same namespace.
    ok = py_event_loop:exec(Loop, <<"gate.set_result('opened')">>),
    ?assertEqual({ok, <<"opened">>}, py_event_loop:await(Ref, 10000)).

spawn_task_from_python(Config) ->
    Self = self(),
    exec(Config, <<"import asyncio\n"
                   "async def report(pid, what):\n"
                   "    await asyncio.sleep(0)\n"
                   "    erlang.send(pid, what)\n"
                   "async def from_async(pid):\n"
                   "    t = erlang.spawn_task(report(pid, 'from async'))\n"
                   "    await t\n"
                   "    return isinstance(t, asyncio.Task)\n"
                   "def from_sync(pid):\n"
                   "    erlang.spawn_task(report(pid, 'from sync'))\n"
                   "    return True\n">>),
    ?assertEqual({ok, true}, run(Config, from_async, [Self])),
    receive <<"from async">> -> ok after 10000 -> ct:fail(no_message) end,
    %% A plain function run as a task is called inside the loop: spawn_task
    %% uses the running loop.
    ?assertEqual({ok, true}, run(Config, from_sync, [Self])),
    receive <<"from sync">> -> ok after 10000 -> ct:fail(no_message) end.

%% A coroutine never awaited, freed while the loop's own code runs: its
%% RuntimeWarning is attributed to the loop's frame and must be shown, not
%% turned into an unraisable error.
warnings_raised_in_loop_frames(Config) ->
    exec(Config, <<"import sys, warnings\n"
                   "unraisable = []\n"
                   "sys.unraisablehook = lambda u: unraisable.append(repr(u.exc_value))\n"
                   "shown = []\n"
                   "def show(message, category, *rest, **kw): shown.append(category.__name__ + ': ' + str(message))\n"
                   "warnings.showwarning = show\n"
                   "async def never(): pass\n"
                   "def fail():\n"
                   "    pending = never()\n"
                   "    raise ValueError('failed')\n">>),
    Loop = ?config(loop, Config),
    ?assertMatch({error, {'ValueError', _}}, py_event_loop:eval(Loop, <<"fail()">>)),
    ?assertEqual({ok, []}, py_event_loop:eval(Loop, <<"unraisable">>)),
    ?assertEqual({ok, [<<"RuntimeWarning: coroutine 'never' was never awaited">>]},
                 py_event_loop:eval(Loop, <<"shown">>)),
    {ok, none} = py_event_loop:eval(Loop, <<"setattr(warnings, 'showwarning', warnings._showwarning_orig)">>),
    ?assertEqual({ok, true}, py_event_loop:eval(Loop, <<"'__builtins__' in vars(erlang) and "
                                                        "'__builtins__' in vars(__import__('_erlang_loop'))">>)).

%% asyncio holds tasks weakly: a task waiting on a future only its own
%% frame holds is an unreachable cycle. Tasks started from Erlang must
%% survive a collection (3.12's streams made such cycles: their protocol
%% holds the reader weakly).
tasks_survive_garbage_collection(Config) ->
    exec(Config, <<"import asyncio, gc, weakref\n"
                   "futures = []\n"
                   "async def orphan(pid):\n"
                   "    fut = asyncio.get_running_loop().create_future()\n"
                   "    futures.append(weakref.ref(fut))\n"
                   "    erlang.send(pid, 'waiting')\n"
                   "    return await fut\n"
                   "def collect_then_finish():\n"
                   "    gc.collect()\n"
                   "    fut = futures[-1]()\n"
                   "    if fut is None:\n"
                   "        return 'collected'\n"
                   "    fut.set_result('survived')\n"
                   "    return 'finished'\n">>),
    Loop = ?config(loop, Config),
    Ref = py_event_loop:create_task(Loop, '__main__', orphan, [self()], #{}),
    receive <<"waiting">> -> ok after 10000 -> ct:fail(task_did_not_start) end,
    ?assertEqual({ok, <<"finished">>}, py_event_loop:eval(Loop, <<"collect_then_finish()">>)),
    ?assertEqual({ok, <<"survived">>}, py_event_loop:await(Ref, 10000)).

namespaces_per_process(Config) ->
    Loop = ?config(loop, Config),
    ok = py_event_loop:exec(Loop, <<"owner = 'first'">>),
    Parent = self(),
    spawn_link(fun() ->
                       ok = py_event_loop:exec(Loop, <<"owner = 'second'">>),
                       Parent ! {second, py_event_loop:eval(Loop, <<"owner">>)}
               end),
    receive {second, Second} -> ?assertEqual({ok, <<"second">>}, Second) end,
    ?assertEqual({ok, <<"first">>}, py_event_loop:eval(Loop, <<"owner">>)).

%%% ---------------------------------------------------------------------
%%% The application's loops and the py API
%%% ---------------------------------------------------------------------

main_loop_api(_Config) ->
    {ok, Loop} = py_event_loop:get_loop(),
    ?assert(is_reference(Loop)),
    ok = py_event_loop:exec(<<"import asyncio\n"
                              "async def add(a, b=0):\n"
                              "    await asyncio.sleep(0)\n"
                              "    return a + b\n">>),
    ?assertEqual({ok, 5}, py_event_loop:run('__main__', add, [2, 3])),
    ?assertEqual({ok, 12}, py_event_loop:run('__main__', add, [2], #{kwargs => #{b => 10}})),
    Ref = py_event_loop:create_task('__main__', add, [1], #{b => 1}),
    ?assertEqual({ok, 2}, py_event_loop:await(Ref)),
    ?assertEqual({ok, 3}, py_event_loop:run(builtins, len, [[a, b, c]])),
    ?assertEqual({ok, <<"asyncio">>}, py_event_loop:eval(<<"add.__module__ and asyncio.__name__">>)),
    ok = py_event_loop:spawn_task(erlang, send, [self(), <<"spawned">>]),
    receive <<"spawned">> -> ok after 10000 -> ct:fail(spawn_task_did_not_run) end,
    ?assertEqual({error, timeout}, py_event_loop:await(make_ref(), 0)).

async_call_and_gather(_Config) ->
    Ref = py:async_call(asyncio, sleep, [0.001, <<"slept">>]),
    ?assertEqual({ok, <<"slept">>}, py:async_await(Ref)),
    ?assertEqual({ok, 16}, py:async_await(py:async_call(builtins, pow, [2, 4], #{}))),
    ?assertEqual({ok, [2.0, 3.0]}, py:async_gather([{math, sqrt, [4.0]}, {math, sqrt, [9.0]}])),
    ?assertMatch({error, {gather_failed, [{2, {'ValueError', _}}]}},
                 py:async_gather([{math, sqrt, [4.0]}, {math, sqrt, [-1.0]}, {math, sqrt, [1.0]}])).

pool_affinity_and_kwargs(_Config) ->
    #{num_loops := N, supported := true} = py_event_loop_pool:get_stats(),
    ?assert(N >= 1),
    {ok, L1} = py_event_loop_pool:get_loop(),
    {ok, L2} = py_event_loop_pool:get_loop(),
    ?assertEqual(L1, L2),
    {ok, All} = py_event_loop_pool:get_all_loops(),
    ?assertEqual(N, length(All)),
    ?assertEqual({ok, 16}, py_event_loop_pool:run(builtins, pow, [2], #{kwargs => #{exp => 4}})),
    ?assertEqual({ok, 8}, py_event_loop_pool:await(py_event_loop_pool:create_task(builtins, pow, [2, 3], #{}))),
    ok = py_event_loop_pool:exec(<<"import asyncio\nasync def ordered(i):\n    await asyncio.sleep(0)\n    return i">>),
    Refs = [py_event_loop_pool:create_task('__main__', ordered, [I]) || I <- lists:seq(1, 20)],
    ?assertEqual([{ok, I} || I <- lists:seq(1, 20)], [py_event_loop_pool:await(R) || R <- Refs]),
    ok = py_event_loop_pool:spawn_task(builtins, len, [[]], #{}).

sandbox_blocks_process_creation(_Config) ->
    ?assertMatch({error, {'RuntimeError', "os.system is blocked in Erlang VM context" ++ _}},
                 py:eval(<<"__import__('os').system('true')">>)),
    ?assertMatch({error, {'RuntimeError', "subprocess.Popen is blocked in Erlang VM context" ++ _}},
                 py:eval(<<"__import__('subprocess').run(['true'])">>)),
    ?assertMatch({error, {'RuntimeError', _}}, py:eval(<<"__import__('os').fork()">>)),
    ok = py_event_loop:exec(<<"import asyncio\n"
                              "async def sub():\n"
                              "    await asyncio.create_subprocess_exec('true')\n">>),
    ?assertMatch({error, {'NotImplementedError', _}}, py_event_loop:run('__main__', sub, [])).

erlang_run_inside_a_call(_Config) ->
    {ok, Ctx} = py_context:new(#{mode => worker}),
    ok = py_context:exec(Ctx, <<"import asyncio\n"
                                "async def main(n):\n"
                                "    await asyncio.sleep(0.001)\n"
                                "    return (type(asyncio.get_running_loop()).__name__, n)\n">>),
    ?assertEqual({ok, {<<"ErlangEventLoop">>, 7}}, py_context:eval(Ctx, <<"erlang.run(main(7))">>)),
    %% Loops are per thread (each context is its own thread, so the
    %% application's loops never stop a call from running one); a second
    %% loop on a thread whose loop is running is refused.
    ok = py_context:exec(Ctx, <<"async def nested():\n"
                                "    inner = main(1)\n"
                                "    try:\n"
                                "        erlang.new_event_loop().run_until_complete(inner)\n"
                                "    except RuntimeError as e:\n"
                                "        inner.close()\n"
                                "        return 'refused'\n">>),
    ?assertEqual({ok, <<"refused">>}, py_context:eval(Ctx, <<"erlang.run(nested())">>)),
    py_context:stop(Ctx).

blocking_sleep_is_interruptible(_Config) ->
    {ok, Ctx} = py_context:new(#{mode => worker}),
    %% Outside a loop erlang.sleep blocks, yet the context keeps answering
    %% and a timeout stops the sleep.
    ?assertEqual({error, timeout}, py_context:eval(Ctx, <<"erlang.sleep(3600)">>, #{}, 200)),
    ?assertEqual({ok, 2}, py_context:eval(Ctx, <<"1 + 1">>)),
    ?assertEqual({ok, none}, py_context:eval(Ctx, <<"erlang.sleep(0.001)">>)),
    py_context:stop(Ctx).

stopping_a_loop_cancels_its_tasks(_Config) ->
    {ok, Loop} = py_event_loop:new(#{mode => worker}),
    ok = py_event_loop:exec(Loop, <<"import asyncio\nasync def forever():\n    await asyncio.sleep(3600)\n">>),
    Ref = py_event_loop:create_task(Loop, '__main__', forever, [], #{}),
    %% The task has started once a later call on the loop has run.
    {ok, _} = py_event_loop:run(Loop, builtins, len, [[]], #{}),
    ok = py_event_loop:stop(Loop),
    ?assertEqual({error, cancelled}, py_event_loop:await(Ref, 10000)).
