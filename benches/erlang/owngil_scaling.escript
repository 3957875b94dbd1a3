#!/usr/bin/env escript
%% Own-GIL scaling and call latency under one setting of the scheduler
%% busy-wait flags (ERL_FLAGS, e.g. "+sbwt none +sbwtdcpu none +sbwtdio none"),
%% for docs/guides/tuning.md. `make bench-sbwt' runs it under each setting.
%%
%% Prints one line of tab-separated figures:
%%   * cpu1, cpu2: ms for 4 CPU-bound calls (sum of squares to 300 000) by
%%     1 caller on one own-GIL context, and by 2 callers on two contexts at
%%     once (4 calls each); speedup = 2 * cpu1 / cpu2 (2.0: fully parallel);
%%   * call_us: py:call(math, sqrt, [2.0]) one after another, µs per call
%%     (median of 5 rounds of 5 000), where wake-up costs show;
%%   * busy: scheduler utilisation while idle for 1 s (the cost of spinning).
%% Usage: escript benches/erlang/owngil_scaling.escript [EbinDir]
-mode(compile).

main(Args) ->
    Ebin = case Args of
               [Dir] -> Dir;
               [] -> "_build/default/lib/erlang_python/ebin"
           end,
    true = code:add_patha(Ebin),
    {ok, _} = application:ensure_all_started(erlang_python),
    Mode = case py:subinterp_supported() of true -> owngil; false -> worker end,
    {ok, A} = py_context:new(#{mode => Mode}),
    {ok, B} = py_context:new(#{mode => Mode}),
    Code = <<"sum(i * i for i in range(300000))">>,
    Burn = fun(Ctx) -> [{ok, _} = py:eval(Ctx, Code) || _ <- lists:seq(1, 4)] end,
    Burn(A), Burn(B),
    Cpu1 = median([ms(fun() -> Burn(A) end) || _ <- lists:seq(1, 5)]),
    Cpu2 = median([ms(fun() -> parallel([fun() -> Burn(A) end, fun() -> Burn(B) end]) end)
                   || _ <- lists:seq(1, 5)]),
    [{ok, _} = py:call(math, sqrt, [2.0]) || _ <- lists:seq(1, 2000)],
    CallUs = median([ms(fun() -> [{ok, _} = py:call(math, sqrt, [2.0]) || _ <- lists:seq(1, 5000)] end)
                     * 1000 / 5000 || _ <- lists:seq(1, 5)]),
    Busy = idle_utilisation(),
    io:format("~s\tcpu1=~.1f\tcpu2=~.1f\tspeedup=~.2f\tcall_us=~.1f\tidle_busy=~.1f%~n",
              [Mode, Cpu1, Cpu2, 2 * Cpu1 / Cpu2, CallUs, Busy]).

ms(Fun) ->
    T0 = erlang:monotonic_time(microsecond),
    Fun(),
    (erlang:monotonic_time(microsecond) - T0) / 1000.

parallel(Funs) ->
    Self = self(),
    Pids = [spawn_link(fun() -> F(), Self ! {done, self()} end) || F <- Funs],
    [receive {done, P} -> ok end || P <- Pids],
    ok.

median(Xs) ->
    lists:nth((length(Xs) + 1) div 2, lists:sort(Xs)).

%% Percent of scheduler time spent busy (spinning included) over a second
%% with nothing to do.
idle_utilisation() ->
    erlang:system_flag(scheduler_wall_time, true),
    S0 = lists:sort(erlang:statistics(scheduler_wall_time_all)),
    receive after 1000 -> ok end,
    S1 = lists:sort(erlang:statistics(scheduler_wall_time_all)),
    {Active, Total} = lists:foldl(fun({{I, A0, T0}, {I, A1, T1}}, {A, T}) -> {A + A1 - A0, T + T1 - T0} end,
                                  {0, 0}, lists:zip(S0, S1)),
    100 * Active / max(1, Total).
