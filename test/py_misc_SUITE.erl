%% Fire-and-forget calls, deferred results, fan-out, the call limiter, and
%% the interpreter information calls.
-module(py_misc_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-include("py_suite.hrl").

all() ->
    [cast_runs, cast_shapes, spawn_call_and_await, spawn_call_shapes, await_timeout,
     spawn_call_large_map, parallel_in_order, parallel_first_error, semaphore_limits,
     overloaded_when_full, overload_waiters_proceed, semaphore_manual, memory_stats,
     gc_calls, tracemalloc, execution_mode_reports_reality, capabilities,
     large_blocks_come_from_the_heap, spawn_call_and_cast_use_the_callers_namespace].

%% A cast's effect is observed through a file it writes (no reply exists).
cast_runs(Config) ->
    File = filename:join(?config(priv_dir, Config), "cast.txt"),
    Code = <<"lambda p, s: open(p, 'a').write(s)">>,
    {ok, Write} = py:eval(Code),
    ok = py:cast(builtins, exec, [<<"open(p, 'a').write('x')">>, #{<<"p">> => list_to_binary(File)}]),
    ?assert(py:is_ref(Write)),
    wait_file(File, <<"x">>, 500),
    %% Nothing was left in the caller's mailbox.
    receive Any -> ct:fail({unexpected, Any}) after 0 -> ok end.

wait_file(_File, _Want, 0) -> ct:fail(cast_never_ran);
wait_file(File, Want, N) ->
    case file:read_file(File) of
        {ok, Want} -> ok;
        _ -> receive after 10 -> wait_file(File, Want, N - 1) end
    end.

cast_shapes(Config) ->
    File = list_to_binary(filename:join(?config(priv_dir, Config), "cast2.txt")),
    Append = fun(S) -> [<<"open(p, 'a').write('", S/binary, "')">>, #{<<"p">> => File}] end,
    Ctx = py:context(),
    ok = py:cast(Ctx, builtins, exec, Append(<<"a">>)),
    ok = py:cast(builtins, exec, Append(<<"b">>), #{}),
    ok = py:cast(Ctx, builtins, exec, Append(<<"c">>), #{}),
    wait_file(binary_to_list(File), <<"abc">>, 500).

spawn_call_and_await(_) ->
    Ref = py:spawn_call(math, sqrt, [16.0]),
    ?assert(is_reference(Ref)),
    ?assertEqual({ok, 4.0}, py:await(Ref)),
    Refs = [py:spawn_call(operator, mul, [I, I]) || I <- lists:seq(1, 50)],
    ?assertEqual([{ok, I * I} || I <- lists:seq(1, 50)], [py:await(R, 5000) || R <- Refs]),
    ?assertMatch({error, {'ZeroDivisionError', _}}, py:await(py:spawn_call(operator, truediv, [1, 0]))).

spawn_call_shapes(_) ->
    Ctx = py:context(),
    ?assertEqual({ok, 3.0}, py:await(py:spawn_call(Ctx, math, sqrt, [9.0]))),
    ?assertEqual({ok, 16}, py:await(py:spawn_call(builtins, int, [<<"10">>], #{base => 16}))),
    ?assertEqual({ok, 16}, py:await(py:spawn_call(Ctx, builtins, int, [<<"10">>], #{base => 16}))),
    %% The message shape, for callers that do their own receive.
    Ref = py:spawn_call(operator, add, [1, 2]),
    receive {py_response, Ref, R} -> ?assertEqual({ok, 3}, R) end.

await_timeout(_) ->
    Ref = make_ref(),
    ?assertEqual({error, timeout}, py:await(Ref, 10)),
    self() ! {py_error, Ref, oops},
    ?assertEqual({error, oops}, py:await(Ref, 10)).

spawn_call_large_map(_) ->
    {ok, Big} = py:await(py:spawn_call(builtins, dict, [[{I, I} || I <- lists:seq(1, 500)]])),
    ?assertEqual(500, map_size(Big)).

parallel_in_order(_) ->
    Calls = [{operator, mul, [I, 2]} || I <- lists:seq(1, 20)],
    ?assertEqual({ok, [I * 2 || I <- lists:seq(1, 20)]}, py:parallel(Calls)),
    ?assertEqual({ok, []}, py:parallel([])).

parallel_first_error(_) ->
    ?assertMatch({error, {'ZeroDivisionError', _}},
                 py:parallel([{operator, add, [1, 1]}, {operator, truediv, [1, 0]}, {operator, add, [2, 2]}])).

semaphore_limits(_) ->
    Schedulers = erlang:system_info(schedulers),
    ?assertEqual(Schedulers * 2 + 1, py_semaphore:max_concurrent()),
    ?assertEqual(0, py_semaphore:current()).

overloaded_when_full(_) ->
    Max = py_semaphore:max_concurrent(),
    ok = py_semaphore:set_max_concurrent(1),
    try
        Self = self(),
        %% One call holds the only slot...
        spawn_link(fun() -> Self ! {busy, py:eval(<<"1">>) =:= {ok, 1} andalso
                                             py:call(builtins, exec, [<<"while True: pass">>], #{}, 400)} end),
        wait_current(1, 500),
        %% ...so another one times out waiting for it.
        ?assertEqual({error, {overloaded, 1, 1}}, py:call(math, sqrt, [4.0], #{}, 100)),
        receive {busy, R} -> ?assertEqual({error, timeout}, R) end,
        wait_current(0, 500),
        ?assertEqual({ok, 2.0}, py:call(math, sqrt, [4.0]))
    after
        ok = py_semaphore:set_max_concurrent(Max)
    end.

%% Callers beyond the limit wait for slots and all get their answers.
overload_waiters_proceed(_) ->
    Max = py_semaphore:max_concurrent(),
    ok = py_semaphore:set_max_concurrent(2),
    try
        Self = self(),
        N = 40,
        [spawn_link(fun() -> Self ! {done, I, [py:call(operator, add, [I, J]) || J <- lists:seq(1, 20)]} end)
         || I <- lists:seq(1, N)],
        [receive {done, I, R} -> ?assertEqual([{ok, I + J} || J <- lists:seq(1, 20)], R) end
         || I <- lists:seq(1, N)],
        wait_current(0, 500)
    after
        ok = py_semaphore:set_max_concurrent(Max)
    end.

semaphore_manual(_) ->
    Max = py_semaphore:max_concurrent(),
    ok = py_semaphore:set_max_concurrent(2),
    try
        ok = py_semaphore:acquire(100),
        ok = py_semaphore:acquire(100),
        ?assertEqual(2, py_semaphore:current()),
        ?assertEqual({error, max_concurrent}, py_semaphore:acquire(20)),
        ok = py_semaphore:release(),
        ok = py_semaphore:release(),
        ok = py_semaphore:release(),
        ?assertEqual(0, py_semaphore:current())
    after
        ok = py_semaphore:set_max_concurrent(Max)
    end.

wait_current(_Want, 0) -> ct:fail({semaphore_never_reached, py_semaphore:current()});
wait_current(Want, N) ->
    case py_semaphore:current() of
        Want -> ok;
        _ -> receive after 5 -> wait_current(Want, N - 1) end
    end.

memory_stats(_) ->
    {ok, Stats} = py:memory_stats(),
    #{gc_stats := GcStats, gc_count := {_, _, _}, gc_threshold := {_, _, _}} = Stats,
    ?assertEqual(3, length(GcStats)),
    [#{<<"collected">> := _, <<"collections">> := _, <<"uncollectable">> := _} | _] = GcStats,
    ?assertNot(maps:is_key(traced_memory_current, Stats)).

gc_calls(_) ->
    ok = py:exec(<<"class Cyc:\n    pass\nfor _ in range(10):\n    c = Cyc(); c.me = c\ndel c">>),
    {ok, N} = py:gc(),
    ?assert(is_integer(N)),
    [?assertMatch({ok, _}, py:gc(G)) || G <- [0, 1, 2]].

tracemalloc(_) ->
    ok = py:tracemalloc_start(),
    {ok, S} = py:memory_stats(),
    ?assert(maps:is_key(traced_memory_current, S)),
    ?assert(maps:is_key(traced_memory_peak, S)),
    ok = py:tracemalloc_stop(),
    ok = py:tracemalloc_start(5),
    ok = py:tracemalloc_stop(),
    {ok, S2} = py:memory_stats(),
    ?assertNot(maps:is_key(traced_memory_current, S2)).

execution_mode_reports_reality(_) ->
    ?assertEqual(worker, py:execution_mode()),
    case py:subinterp_supported() of
        false -> ok;
        true ->
            ok = py:stop_contexts(),
            {ok, _} = py:start_contexts(#{mode => owngil, contexts => 2}),
            ?assertEqual(owngil, py:execution_mode()),
            ?assertEqual({ok, 2}, py:eval(<<"1+1">>)),
            ok = py:stop_contexts(),
            {ok, _} = py:start_contexts(),
            ?assertEqual(worker, py:execution_mode())
    end.

capabilities(_) ->
    {ok, Info} = {ok, py_nif:python_info()},
    #{version_info := {3, Minor}} = Info,
    ?assertEqual(Minor >= 12, py_nif:owngil_supported()),
    ?assertEqual(Minor >= 12, py:subinterp_supported()),
    ?assertEqual(gil, py_nif:execution_mode()).

%% malloc_tuning (on by default): a 256 KiB block (asyncio's socket read
%% size) comes from malloc's heap, not from its own mmap, despite the
%% thresholds the BEAM pins. glibc marks mmapped chunks with bit 2 of the
%% size word just before the block.
%% Not under AddressSanitizer (scripts/test-asan.sh), whose allocator
%% replaces glibc's.
large_blocks_come_from_the_heap(_Config) ->
    Asan = py:eval(<<"hasattr(__import__('ctypes').CDLL(None), '__asan_init')">>),
    case os:type() of
        {unix, linux} when Asan =:= {ok, true} ->
            {skip, "AddressSanitizer's allocator replaces glibc's"};
        {unix, linux} ->
            ok = py:exec(<<"import ctypes\n"
                           "def mmapped(size):\n"
                           "    libc = ctypes.CDLL(None)\n"
                           "    libc.malloc.restype = ctypes.c_void_p\n"
                           "    block = libc.malloc(size)\n"
                           "    flags = ctypes.c_size_t.from_address(block - 8).value\n"
                           "    libc.free(ctypes.c_void_p(block))\n"
                           "    return bool(flags & 2)\n">>),
            ?assertEqual({ok, false}, py:eval(<<"mmapped(256 * 1024)">>)),
            %% Past the threshold blocks are mmapped (the check sees it).
            ?assertEqual({ok, true}, py:eval(<<"mmapped(64 * 1024 * 1024)">>));
        _ ->
            {skip, not_glibc}
    end.

%% '__main__' is the caller's namespace for spawn_call and cast too, as for
%% call: a function the caller defined with py:exec is found.
spawn_call_and_cast_use_the_callers_namespace(_Config) ->
    ok = py:exec(<<"seen = []\ndef mine(x):\n    seen.append(x)\n    return x * 2\n">>),
    ?assertEqual({ok, 42}, py:await(py:spawn_call('__main__', mine, [21]))),
    ok = py:cast('__main__', mine, [1]),
    %% The cast ran before this call on the same context (requests run in
    %% order).
    ?assertEqual({ok, [21, 1]}, py:eval(<<"seen">>)),
    %% Another process does not see it.
    Self = self(),
    spawn_link(fun() -> Self ! {other, py:await(py:spawn_call('__main__', mine, [1]))} end),
    receive {other, Other} -> ?assertMatch({error, {'NameError', _}}, Other) end.
