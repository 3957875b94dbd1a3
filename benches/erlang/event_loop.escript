#!/usr/bin/env escript
%%! +S 2
%% Event-loop figures (issue 5), next to the stdlib selector loop run in a
%% plain Python process on the same machine ($PYTHON, else python3):
%%   * loopback TCP echo, 1 000 round trips of 1 KiB (client and server on
%%     one loop), on a worker loop and, where supported, an owngil loop;
%%   * median overshoot of asyncio.sleep(0.001);
%%   * CPU used by an idle loop's thread over 10 s, and by the whole VM
%%     (with the application's loops idle too);
%%   * py_event_loop:run of a trivial coroutine, and of a plain function,
%%     on the application's loop (round trip seen by the caller).
%% The coroutines are in event_loop_bench.py next to this file.
%% Usage: escript benches/erlang/event_loop.escript [EbinDir]
-mode(compile).

main(Args) ->
    Ebin = case Args of
               [Dir] -> Dir;
               [] -> "_build/default/lib/erlang_python/ebin"
           end,
    true = code:add_patha(Ebin),
    {ok, _} = application:ensure_all_started(erlang_python),
    BenchFile = filename:join(filename:dirname(escript:script_name()), "event_loop_bench.py"),
    {ok, Code} = file:read_file(BenchFile),
    Stdlib = stdlib_figures(BenchFile),
    {ok, Loop} = py_event_loop:new(#{mode => worker}),
    ok = py_event_loop:exec(Loop, Code),
    report("TCP echo 1000 x 1 KiB, worker loop", "ms",
           fun() -> 1000 * task(Loop, tcp_echo, []) end, maps:get(tcp_echo_s, Stdlib) * 1000),
    %% The same on the stdlib loop, in the VM: what the environment costs.
    {ok, Ctx} = py_context:new(#{mode => worker}),
    ok = py_context:exec(Ctx, Code),
    line("TCP echo, stdlib loop on a context thread", "ms",
         1000 * ok(py_context:eval(Ctx, <<"median_on_stdlib_loop(tcp_echo)">>)), none),
    case py_nif:owngil_supported() of
        true ->
            {ok, Own} = py_event_loop:new(#{mode => owngil}),
            ok = py_event_loop:exec(Own, Code),
            report("TCP echo 1000 x 1 KiB, owngil loop", "ms",
                   fun() -> 1000 * task(Own, tcp_echo, []) end, maps:get(tcp_echo_s, Stdlib) * 1000);
        false ->
            ok
    end,
    report("asyncio.sleep(0.001) overshoot, median", "ms",
           fun() -> 1000 * task(Loop, sleep_overshoot, []) end, maps:get(sleep_overshoot_s, Stdlib) * 1000),
    idle(Loop),
    ok = py_event_loop:exec(Code),
    report("py_event_loop:run, trivial coroutine", "us",
           fun() -> per_run(fun() -> {ok, 1} = py_event_loop:run('__main__', nop, []) end, 5000) end, none),
    report("py_event_loop:run, plain function", "us",
           fun() -> per_run(fun() -> {ok, 1} = py_event_loop:run(builtins, abs, [-1]) end, 5000) end, none),
    halt(0).

task(Loop, Function, Args) ->
    {ok, Value} = py_event_loop:run(Loop, '__main__', Function, Args, #{timeout => 120000}),
    Value.

%% The loop thread's own CPU clock, read on that thread, and the VM
%% process's ticks from /proc.
idle(Loop) ->
    Seconds = 10,
    {ok, Thread0} = py_event_loop:run(Loop, time, thread_time, [], #{}),
    Vm0 = vm_cpu_seconds(),
    timer:sleep(Seconds * 1000),
    {ok, Thread1} = py_event_loop:run(Loop, time, thread_time, [], #{}),
    Vm1 = vm_cpu_seconds(),
    line(io_lib:format("idle loop thread over ~b s, % of a core", [Seconds]), "%",
         100 * (Thread1 - Thread0) / Seconds, none),
    line(io_lib:format("whole VM, all loops idle, over ~b s", [Seconds]), "%",
         100 * (Vm1 - Vm0) / Seconds, none).

vm_cpu_seconds() ->
    {ok, Stat} = file:read_file("/proc/self/stat"),
    %% Fields after the command name, which is in parentheses.
    [_, Rest] = binary:split(Stat, <<") ">>),
    Fields = binary:split(Rest, <<" ">>, [global]),
    Ticks = binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields)),
    Ticks / clock_ticks().

clock_ticks() ->
    case string:trim(os:cmd("getconf CLK_TCK")) of
        "" -> 100;
        Text -> list_to_integer(Text)
    end.

per_run(F, N) ->
    T0 = erlang:monotonic_time(nanosecond),
    repeat(F, N),
    (erlang:monotonic_time(nanosecond) - T0) / N / 1000.

repeat(_F, 0) -> ok;
repeat(F, N) -> F(), repeat(F, N - 1).

%% `tcp_echo_s' and `sleep_overshoot_s' of the stdlib loop in a plain
%% Python process.
stdlib_figures(BenchFile) ->
    Python = case os:getenv("PYTHON") of
                 false -> "python3";
                 P -> P
             end,
    Out = os:cmd(Python ++ " " ++ BenchFile),
    case string:lexemes(string:trim(Out), " ") of
        ["tcp_echo_s", Tcp, "sleep_overshoot_s", Sleep] ->
            #{tcp_echo_s => list_to_float(Tcp), sleep_overshoot_s => list_to_float(Sleep)};
        _ ->
            io:format("stdlib run failed: ~s~n", [Out]),
            halt(1)
    end.

ok({ok, Value}) -> Value.

%% The median of 15 runs after a warm-up (as the plain Python side does).
report(Label, Unit, F, Reference) ->
    _ = F(),
    Runs = lists:sort([F() || _ <- lists:seq(1, 15)]),
    line(Label, Unit, lists:nth(8, Runs), Reference).

line(Label, Unit, Value, none) ->
    io:format("~-48s ~10.3f ~s~n", [Label, Value, Unit]);
line(Label, Unit, Value, Reference) ->
    io:format("~-48s ~10.3f ~s   (stdlib loop, plain python: ~.3f ~s)~n", [Label, Value, Unit, Reference, Unit]).
