%% Many callers at once, callers and contexts dying mid-call, and the
%% resources left behind (threads, memory).
-module(py_stress_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-include("py_suite.hrl").

all() ->
    [thousand_callers, killed_callers_leak_nothing, stopped_contexts_leak_no_thread,
     memory_is_flat].

%% 1 000 processes, 100 calls each, all at once: every answer right.
thousand_callers(_) ->
    Self = self(),
    N = 1000,
    [spawn_link(fun() ->
                    R = [py:call(operator, add, [I, J]) || J <- lists:seq(1, 100)],
                    Self ! {done, I, R =:= [{ok, I + J} || J <- lists:seq(1, 100)]}
                end) || I <- lists:seq(1, N)],
    Results = [receive {done, I, Ok} -> Ok after 120000 -> ct:fail({timeout, I}) end
               || I <- lists:seq(1, N)],
    ?assertEqual(N, length([ok || true <- Results])).

%% Callers killed while their calls run (or wait) leave no slot, thread or
%% reply behind: afterwards the pool answers as before.
killed_callers_leak_nothing(_) ->
    Threads = thread_count(),
    Pids = [spawn(fun() -> py:call(builtins, exec, [<<"sum(range(20000))">>]) end)
            || _ <- lists:seq(1, 200)],
    [exit(P, kill) || P <- Pids],
    wait_until(fun() -> py_semaphore:current() =:= 0 end, 1000),
    ?assertEqual({ok, 2}, py:eval(<<"1+1">>)),
    ?assertEqual(Threads, thread_count()).

%% Contexts stopped mid-call end their threads (own-GIL ones, or give
%% them back to the pool of interpreters kept for reuse, whose idle
%% threads are not counted).
stopped_contexts_leak_no_thread(_) ->
    Modes = case py:subinterp_supported() of
                true -> [worker, owngil];
                false -> [worker]
            end,
    Before = working_threads(),
    lists:foreach(
      fun(Mode) ->
          Ctxs = [element(2, py_context:new(#{mode => Mode})) || _ <- lists:seq(1, 8)],
          ?assertEqual(Before + 8, working_threads()),
          [spawn(fun() -> py_context:eval(C, <<"[0 for _ in iter(int, 1)]">>) end) || C <- Ctxs],
          [wait_until(fun() -> maps:get(busy, element(2, py_context:info(C))) end, 1000) || C <- Ctxs],
          [ok = py_context:interrupt(C) || C <- Ctxs],
          [ok = py_context:stop(C) || C <- Ctxs],
          wait_until(fun() -> working_threads() =:= Before end, 1000)
      end, Modes),
    ?assertEqual(Before, working_threads()).

working_threads() ->
    {Idle, _Max} = py_nif:owngil_pool_info(),
    thread_count() - Idle.

%% Resident memory after 200 000 calls stays within 10% of what it was
%% after the first 20 000 (the allocators have warmed up by then).
memory_is_flat(_) ->
    Run = fun(Calls) ->
              Self = self(),
              Per = Calls div 8,
              [spawn_link(fun() ->
                              [{ok, [J, <<"x">>, #{<<"k">> := J}]} = py:call(operator, concat, [[J], [<<"x">>, #{k => J}]])
                               || J <- lists:seq(1, Per)],
                              Self ! done
                          end) || _ <- lists:seq(1, 8)],
              [receive done -> ok end || _ <- lists:seq(1, 8)]
          end,
    Run(20000),
    Rss1 = settled_rss_kb(),
    Run(180000),
    Rss2 = settled_rss_kb(),
    ct:pal("RSS after 20k calls: ~p kB, after 200k: ~p kB", [Rss1, Rss2]),
    %% AddressSanitizer keeps freed memory in quarantine: RSS says nothing
    %% about leaks there (scripts/test-asan.sh sets PY_TEST_ASAN).
    case os:getenv("PY_TEST_ASAN") of
        "1" -> ok;
        _ -> ?assert(Rss2 =< Rss1 * 1.10)
    end.

%% RSS once garbage on both sides has been collected.
settled_rss_kb() ->
    [erlang:garbage_collect(P) || P <- processes()],
    [{ok, _} = py_context:eval(C, <<"__import__('gc').collect()">>) || C <- py_context_router:contexts()],
    rss_kb().

thread_count() ->
    length(filelib:wildcard("/proc/" ++ os:getpid() ++ "/task/*")).

rss_kb() ->
    {ok, Status} = file:read_file("/proc/" ++ os:getpid() ++ "/status"),
    [Line] = [L || L <- binary:split(Status, <<"\n">>, [global]), binary:match(L, <<"VmRSS:">>) =/= nomatch],
    [_, Kb | _] = binary:split(Line, [<<" ">>, <<"\t">>], [global, trim_all]),
    binary_to_integer(Kb).

wait_until(_F, 0) -> ct:fail(condition_never_met);
wait_until(F, N) ->
    case F() of
        true -> ok;
        false -> receive after 10 -> wait_until(F, N - 1) end
    end.
