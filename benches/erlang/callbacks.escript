#!/usr/bin/env escript
%%! +S 2
%% Callback and messaging figures of the `erlang' Python module:
%%   * erlang.call round trip from Python (worker and owngil contexts),
%%   * the same from a Python thread (served by py_callback),
%%   * erlang.send throughput from a Python loop to one Erlang process.
%% Usage: escript benches/erlang/callbacks.escript [EbinDir]
%% (run from the repository root after `make build'; prints one line per
%% figure, the median of 5 runs).
-mode(compile).

main(Args) ->
    Ebin = case Args of
               [Dir] -> Dir;
               [] -> "_build/default/lib/erlang_python/ebin"
           end,
    true = code:add_patha(Ebin),
    {ok, _} = application:ensure_all_started(erlang_python),
    ok = py:register_function(add, fun([A, B]) -> A + B end),
    Code = <<"import erlang, threading\n"
             "def calls(n):\n"
             "    c = erlang.call\n"
             "    for i in range(n):\n"
             "        c('add', i, 1)\n"
             "def thread_calls(n):\n"
             "    t = threading.Thread(target=calls, args=(n,))\n"
             "    t.start(); t.join()\n"
             "def sends(pid, n):\n"
             "    s = erlang.send\n"
             "    for i in range(n):\n"
             "        s(pid, i)\n">>,
    {ok, Worker} = py_context:new(#{mode => worker}),
    ok = py_context:exec(Worker, Code),
    report("erlang.call round trip, worker context", "us",
           fun() -> per_call(Worker, calls, 20000) end),
    case py_nif:owngil_supported() of
        true ->
            {ok, Own} = py_context:new(#{mode => owngil}),
            ok = py_context:exec(Own, Code),
            report("erlang.call round trip, owngil context", "us",
                   fun() -> per_call(Own, calls, 20000) end);
        false ->
            ok
    end,
    report("erlang.call round trip from a Python thread", "us",
           fun() -> per_call(Worker, thread_calls, 5000) end),
    report("erlang.send from a Python loop", "msg/s",
           fun() -> sends(Worker, 200000) end),
    halt(0).

per_call(Ctx, Fun, N) ->
    T0 = erlang:monotonic_time(nanosecond),
    {ok, _} = py_context:call(Ctx, '__main__', Fun, [N]),
    (erlang:monotonic_time(nanosecond) - T0) / N / 1000.

sends(Ctx, N) ->
    Self = self(),
    T0 = erlang:monotonic_time(nanosecond),
    {ok, _} = py_context:call(Ctx, '__main__', sends, [Self, N]),
    drain(N),
    N / ((erlang:monotonic_time(nanosecond) - T0) / 1.0e9).

drain(0) -> ok;
drain(N) -> receive _ -> drain(N - 1) end.

report(Label, Unit, F) ->
    _ = F(),
    Runs = lists:sort([F() || _ <- lists:seq(1, 5)]),
    io:format("~-48s ~12.2f ~s~n", [Label, lists:nth(3, Runs), Unit]).
