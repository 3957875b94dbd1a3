#!/usr/bin/env escript
%%! +S 2
%% Channel and shared-dict figures, next to the C library's (the table in
%% /work/shared/bench/README.md, ids f and j):
%%   a. py_channel:send/2 cost with 1 000, 10 000 and 100 000 messages
%%      already queued (no receiver): must be flat;
%%   b. 50 000 messages sent, the channel closed, then Python drains it,
%%      end to end;
%%   c. the same while Python drains concurrently (py:spawn_call);
%%   d. py:shared_dict_set / py:shared_dict_get of a small map;
%%   e. SharedDict get from Python (d['cfg'] in a loop).
%% Usage: escript benches/erlang/channels.escript [EbinDir]
%% (run from the repository root after `make build'; prints one line per
%% figure, the median of 5 runs).
-mode(compile).

-define(MSG, {msg, 12345, <<"0123456789abcdef0123456789abcdef">>}).
-define(CFG, #{<<"host">> => <<"localhost">>, <<"port">> => 8080}).

main(Args) ->
    Ebin = case Args of
               [Dir] -> Dir;
               [] -> "_build/default/lib/erlang_python/ebin"
           end,
    true = code:add_patha(Ebin),
    {ok, _} = application:ensure_all_started(erlang_python),
    Code = <<"from erlang.channel import Channel, SharedDict\n"
             "import time\n"
             "def drain(ch):\n"
             "    n = 0\n"
             "    for _ in Channel(ch):\n"
             "        n += 1\n"
             "    return n\n"
             "def sd_gets(h, n):\n"
             "    d = SharedDict(h)\n"
             "    t0 = time.perf_counter()\n"
             "    for _ in range(n):\n"
             "        d['cfg']\n"
             "    return (time.perf_counter() - t0) / n * 1e6\n"
             "import sys, types\n"
             "_m = sys.modules.setdefault('channels_bench', types.ModuleType('channels_bench'))\n"
             "_m.drain = drain\n">>,
    %% In this process's namespace: drain is called as '__main__'.drain.
    ok = py:exec(Code),
    %% a. The C library's figures are without a receiver too, at 1k, 10k
    %% and 50k queued (README, "Also measured").
    lists:foreach(
      fun({Level, Ref}) ->
              report(io_lib:format("a. py_channel:send/2, ~b queued", [Level]), "us",
                     fun() -> send_cost(Level, 10000) end, Ref)
      end,
      [{1000, "1.1 us"}, {10000, "3.4 us"}, {100000, "20 us at 50k"}]),
    N = 50000,
    report("b. channel: prefill 50k, close, Python drains", "msg/s",
           fun() -> prefill_drain(N) end, "49 544 msg/s"),
    report("c. channel: concurrent drain (spawn_call)", "msg/s",
           fun() -> concurrent_drain('__main__', N) end, "325 180 msg/s"),
    %% py:spawn_call does not take the caller's namespace (the request goes
    %% out with no namespace), so '__main__'.drain may not resolve there:
    %% the same drain, reached through a module.
    report("c. the same, drain in module channels_bench", "msg/s",
           fun() -> concurrent_drain(channels_bench, N) end, "325 180 msg/s"),
    {ok, SD} = py:shared_dict_new(),
    ok = py:shared_dict_set(SD, <<"cfg">>, ?CFG),
    Cfg = ?CFG,
    Cfg = py:shared_dict_get(SD, <<"cfg">>),
    report("d. py:shared_dict_set, small map", "us",
           fun() -> per_op(fun() -> ok = py:shared_dict_set(SD, <<"cfg">>, ?CFG) end, 20000) end,
           "3.62 us"),
    report("d. py:shared_dict_get, small map", "us",
           fun() -> per_op(fun() -> #{} = py:shared_dict_get(SD, <<"cfg">>) end, 20000) end,
           "16.7 us"),
    report("e. SharedDict d['cfg'] from Python", "us",
           fun() -> ok(py:call('__main__', sd_gets, [SD, 100000])) end, none),
    ok = py:shared_dict_destroy(SD),
    halt(0).

%% Fills a fresh channel to Level, then times Count more sends.
send_cost(Level, Count) ->
    {ok, Ch} = py_channel:new(),
    send_n(Ch, Level),
    T0 = erlang:monotonic_time(nanosecond),
    send_n(Ch, Count),
    T = erlang:monotonic_time(nanosecond) - T0,
    #{} = py_channel:info(Ch),
    ok = py_channel:close(Ch),
    T / Count / 1000.

prefill_drain(N) ->
    {ok, Ch} = py_channel:new(),
    T0 = erlang:monotonic_time(nanosecond),
    send_n(Ch, N),
    ok = py_channel:close(Ch),
    {ok, N} = py:call('__main__', drain, [Ch]),
    N / ((erlang:monotonic_time(nanosecond) - T0) / 1.0e9).

concurrent_drain(Module, N) ->
    {ok, Ch} = py_channel:new(),
    T0 = erlang:monotonic_time(nanosecond),
    Ref = py:spawn_call(Module, drain, [Ch]),
    send_n(Ch, N),
    ok = py_channel:close(Ch),
    case py:await(Ref, 30000) of
        {ok, N} -> N / ((erlang:monotonic_time(nanosecond) - T0) / 1.0e9);
        Other -> {failed, Other}
    end.

send_n(_Ch, 0) -> ok;
send_n(Ch, K) ->
    ok = py_channel:send(Ch, ?MSG),
    send_n(Ch, K - 1).

per_op(F, N) ->
    T0 = erlang:monotonic_time(nanosecond),
    repeat(F, N),
    (erlang:monotonic_time(nanosecond) - T0) / N / 1000.

repeat(_F, 0) -> ok;
repeat(F, N) -> F(), repeat(F, N - 1).

ok({ok, Value}) -> Value.

%% The median of 5 runs after a warm-up; a run that fails is reported
%% instead of a figure.
report(Label, Unit, F, Reference) ->
    case F() of
        {failed, Why} ->
            io:format("~-48s failed: ~0p~n", [Label, Why]);
        _ ->
            Runs = lists:sort([F() || _ <- lists:seq(1, 5)]),
            case [R || {failed, _} = R <- Runs] of
                [] -> line(Label, Unit, lists:nth(3, Runs), Reference);
                [{failed, Why} | _] -> io:format("~-48s failed: ~0p~n", [Label, Why])
            end
    end.

line(Label, Unit, Value, none) ->
    io:format("~-48s ~12.2f ~s~n", [Label, Value, Unit]);
line(Label, Unit, Value, Reference) ->
    io:format("~-48s ~12.2f ~-6s (C library: ~s)~n", [Label, Value, Unit, Reference]).
