%% Stateful property tests (PropEr, proper_statem) that hunt for crashes,
%% hangs and leaks: random sequences of context starts and stops (worker
%% and, where the build has them, owngil), calls whose results the model
%% predicts, calls that time out, interrupts, callers and contexts killed
%% mid-call, streams, channels, event loops and object handles.
%%
%% Each sequence runs in a runner process (PropEr's run_commands) with a
%% client process that owns what the sequence makes (contexts and loops are
%% linked to their creator; process namespaces, stream messages and task
%% results belong to it). Every command that can block runs in the client
%% or in a caller process with a hard bound (its own deadline plus ?SLACK
%% ms, or ?QUICK ms when it has none), so a hang fails the property, with
%% the stuck process's stack, instead of hanging the run. Python tells the
%% runner when a call has started (erlang.send), so nothing waits on
%% sleeps. After each sequence everything it started is stopped and the OS
%% threads (minus the own-GIL interpreters idle in the reuse pool), open
%% descriptors, Erlang processes and the context registry must come back
%% to what they were before it (polled: threads end after stop returns).
%%
%% `lifecycle' is the bounded run (`make test'): ?NUMTESTS sequences, or
%% $PY_PROP_NUMTESTS. `soak' (scripts/soak.sh, `make soak') generates
%% sequences for $PY_PROP_SECONDS seconds and reports RSS, threads and
%% descriptors before, after each round of 20 and after (also appended to
%% the file $PY_PROP_REPORT if set). Other knobs: $PY_PROP_MAX_SHRINKS
%% (default 50), $PY_PROP_LENGTH (sequence length factor, default 5),
%% $PY_PROP_MODES ("worker" or "owngil" to test one mode).
%%
%% PropEr comes from the Debian package `erlang-proper'. The suite calls it
%% without its header (so it compiles without `erlang-proper-dev') and
%% skips, saying so, when PropEr is not installed.
-module(py_prop_SUITE).
-include_lib("common_test/include/ct.hrl").

-compile([export_all, nowarn_export_all]).

-import(proper_types, [integer/2, elements/1, oneof/1, frequency/1, exactly/1]).

%% The two proper.hrl macros used here (same definitions).
-define(FORALL(X, Gen, Prop), proper:forall(Gen, fun(X) -> Prop end)).
-define(WHENFAIL(Action, Prop), proper:whenfail(fun() -> Action end, fun() -> Prop end)).

-define(NUMTESTS, 100).
%% Bound of a blocking command that has no deadline of its own (ms).
-define(QUICK, 5000).
%% How late after its deadline a call may return (ms).
-define(SLACK, 2000).
%% Starting a context or a loop (ms).
-define(START_BOUND, 15000).
%% py_context:stop/1 gives running code 5 s (ms).
-define(STOP_BOUND, 5000 + ?SLACK).
%% py_event_loop:stop/1: up to 5 s for the loop, 5 s for its end, then stop/1.
-define(LOOP_STOP_BOUND, 15000 + ?SLACK).
%% A whole sequence, commands and clean-up (ms).
-define(SEQ_BOUND, 300000).
%% How long threads, descriptors and processes may take to go back to the
%% baseline after a sequence's clean-up (threads end after stop returns).
-define(SETTLE, 10000).
%% Allowed excess over the baseline after settling.
-define(SLACK_THREADS, 1).
-define(SLACK_FDS, 2).
-define(SLACK_PROCS, 3).
%% Contexts and loops alive at once (2 cores).
-define(MAX_LIVE, 4).
-define(MAX_STREAMS, 4).
-define(MAX_HANDLES, 6).
-define(NAMES, [pv_a, pv_b, pv_c]).

%% Defined in every context of a sequence (preload: the context's own
%% namespace and the template of every process namespace in it).
-define(PRELOAD, <<"
import time, erlang

def _started(pid, n):
    if pid is not None:
        erlang.send(pid, ('started', n))

def _ended(pid, n):
    if pid is not None:
        erlang.send(pid, ('ended', n))

def spin(pid=None, n=0):
    _started(pid, n)
    try:
        while True:
            pass
    finally:
        _ended(pid, n)

def esleep(pid=None, n=0):
    _started(pid, n)
    try:
        erlang.sleep(600)
    finally:
        _ended(pid, n)

def tsleep(pid=None, n=0):
    _started(pid, n)
    try:
        time.sleep(0.3)
    finally:
        _ended(pid, n)

def callback(pid, n):
    try:
        return erlang.call('prop_block', pid, n)
    finally:
        _ended(pid, n)

def gen(n):
    for i in range(n):
        yield i

def blocked_gen():
    yield 0
    erlang.sleep(3600)

def endless():
    i = 0
    while True:
        yield i
        i += 1

class Opaque:
    def __init__(self, v):
        self.v = v
    def get(self, k=0):
        return self.v + k

def opaque(v):
    return Opaque(v)

def drain(ch):
    c = erlang.Channel(ch)
    out = []
    while True:
        try:
            v = c.try_receive()
        except erlang.ChannelClosed:
            break
        if v is None:
            break
        out.append(v)
    return out

def recv_one(ch, pid, n):
    c = erlang.Channel(ch)
    _started(pid, n)
    return c.receive()
">>).

%%% =====================================================================
%%% Common Test
%%% =====================================================================

suite() ->
    [{timetrap, {minutes, 30}}].

all() ->
    [lifecycle].

init_per_suite(Config) ->
    case code:which(proper) of
        non_existing ->
            {skip, "PropEr is not installed (Debian: apt-get install erlang-proper)"};
        _ ->
            {ok, _} = application:ensure_all_started(erlang_python),
            %% For `callback': tells the runner it runs, then never returns.
            ok = py:register_function(prop_block, fun([Pid, N]) ->
                                                          Pid ! {<<"started">>, N},
                                                          receive after infinity -> ok end
                                                  end),
            Config
    end.

end_per_suite(_Config) ->
    _ = py:unregister_function(prop_block),
    ok = application:stop(erlang_python).

init_per_testcase(_Case, Config) ->
    %% Owned by the test case process: counts contexts and loops started.
    _ = ets:new(py_prop_counters, [named_table, public, set]),
    warm_up(),
    Config.

end_per_testcase(_Case, _Config) ->
    ok.

%% The bounded run.
lifecycle(_Config) ->
    N = env_int("PY_PROP_NUMTESTS", ?NUMTESTS),
    Before = settled_stats(),
    T0 = erlang:monotonic_time(millisecond),
    Result = check(N),
    Secs = (erlang:monotonic_time(millisecond) - T0) / 1000,
    report("py_prop: ~p sequences in ~.1f s (modes ~p)~n  before: ~ts~n  after:  ~ts",
           [N, Secs, modes(), format_stats(Before), format_stats(settled_stats())]),
    case Result of
        true -> ok;
        Failure -> ct:fail({property_failed, Failure})
    end.

%% The long run: sequences for $PY_PROP_SECONDS seconds (default 3600),
%% in rounds of 20, with the figures after each round.
soak(_Config) ->
    Seconds = env_int("PY_PROP_SECONDS", 3600),
    ct:timetrap({seconds, Seconds + 1800}),
    Deadline = erlang:monotonic_time(second) + Seconds,
    Before = settled_stats(),
    report("soak: ~p s, modes ~p~nbefore: ~ts", [Seconds, modes(), format_stats(Before)]),
    {Rounds, Result} = soak_rounds(Deadline, 0),
    After = settled_stats(),
    report("soak: ~p rounds (~p sequences), ~ts~nbefore: ~ts~nafter:  ~ts~ndelta:  ~ts~n"
           "contexts and loops started: ~p worker, ~p owngil",
           [Rounds, Rounds * 20, case Result of true -> "passed"; _ -> "FAILED" end,
            format_stats(Before), format_stats(After), format_delta(Before, After),
            started_count(worker), started_count(owngil)]),
    case Result of
        true -> ok;
        Failure -> ct:fail({property_failed, Failure})
    end.

soak_rounds(Deadline, Rounds) ->
    case erlang:monotonic_time(second) >= Deadline of
        true ->
            {Rounds, true};
        false ->
            case check(20) of
                true ->
                    report("round ~p: ~ts", [Rounds + 1, format_stats(settled_stats())]),
                    soak_rounds(Deadline, Rounds + 1);
                Failure ->
                    {Rounds + 1, Failure}
            end
    end.

check(NumTests) ->
    Opts = [{numtests, NumTests}, {max_shrinks, env_int("PY_PROP_MAX_SHRINKS", 50)},
            {on_output, fun(F, A) -> io:format(user, F, A) end}],
    case proper:quickcheck(prop_lifecycle(), Opts) of
        true -> true;
        Other -> {Other, proper:counterexample()}
    end.

report(Format, Args) ->
    ct:pal(Format, Args),
    io:format(user, Format ++ "~n", Args),
    case os:getenv("PY_PROP_REPORT") of
        false -> ok;
        "" -> ok;
        File -> ok = file:write_file(File, io_lib:format(Format ++ "~n", Args), [append])
    end.

env_int(Name, Default) ->
    case os:getenv(Name) of
        false -> Default;
        "" -> Default;
        V -> list_to_integer(V)
    end.

%%% =====================================================================
%%% The property
%%% =====================================================================

prop_lifecycle() ->
    ?FORALL(Cmds, proper_statem:more_commands(env_int("PY_PROP_LENGTH", 5), proper_statem:commands(?MODULE)),
            begin
                Base = settled_stats(),
                {Outcome, Cleanup} = run_sequence(Cmds),
                Leak = leak_check(Base),
                proper:measure("commands per sequence", length(Cmds),
                proper:aggregate(proper_statem:command_names(Cmds),
                                 ?WHENFAIL(explain(Cmds, Outcome, Cleanup, Leak, Base),
                                           outcome_ok(Outcome) andalso Cleanup =:= ok
                                               andalso Leak =:= ok)))
            end).

outcome_ok({_History, _State, ok}) -> true;
outcome_ok(_) -> false.

%% Runs the commands in a process of their own (with a client process that
%% owns the contexts, loops, namespaces and stream messages), then stops
%% everything the sequence started. The whole is bounded.
run_sequence(Cmds) ->
    Parent = self(),
    {Runner, Mon} =
        spawn_monitor(fun() ->
                              Client = start_client(),
                              put(prop_client, Client),
                              Outcome = try proper_statem:run_commands(?MODULE, Cmds)
                                        catch C:E:St -> {[], undefined, {runner_crashed, C, E, St}}
                                        end,
                              Cleanup = cleanup(Client),
                              Parent ! {self(), Outcome, Cleanup}
                      end),
    receive
        {Runner, Outcome, Cleanup} ->
            erlang:demonitor(Mon, [flush]),
            {Outcome, Cleanup};
        {'DOWN', Mon, process, Runner, Reason} ->
            {{[], undefined, {runner_died, Reason}}, not_run}
    after ?SEQ_BOUND ->
        Stack = process_info(Runner, current_stacktrace),
        exit(Runner, kill),
        {{[], undefined, {sequence_hung, Stack}}, not_run}
    end.

explain(Cmds, Outcome, Cleanup, Leak, Base) ->
    {History, State, Result} = Outcome,
    Steps = case is_list(Cmds) of
                true -> lists:zip(lists:sublist(Cmds, length(History)),
                                  [R || {_, R} <- History]);
                false -> History
            end,
    Failed = case Result of
                 ok -> none;
                 _ when is_list(Cmds), length(Cmds) > length(History) ->
                     {stopped_at, lists:nth(length(History) + 1, Cmds)};
                 _ when History =/= [] ->
                     {stopped_at, lists:last(lists:sublist(Cmds, length(History)))};
                 _ -> none
             end,
    Msg = io_lib:format("~n==== py_prop failure ====~nresult: ~p~n~p~n"
                        "steps (command -> result):~n~ts~n"
                        "final model state: ~p~ncleanup: ~p~nleak check: ~p~nbaseline: ~ts~n",
                        [Result, Failed,
                         [io_lib:format("  ~p~n    -> ~P~n", [C, R, 30]) || {C, R} <- Steps],
                         State, Cleanup, Leak, format_stats(Base)]),
    ct:pal("~ts", [Msg]),
    io:format(user, "~ts", [Msg]).

%%% =====================================================================
%%% Client: owns contexts, loops, namespaces and stream messages
%%% =====================================================================

start_client() ->
    spawn(fun() ->
                  process_flag(trap_exit, true),
                  client_loop()
          end).

client_loop() ->
    receive
        {run, From, Ref, Fun} ->
            drain_streams(),
            R = try Fun()
                catch C:E:St -> {prop_crash, C, E, St}
                end,
            From ! {Ref, R},
            client_loop();
        stop ->
            ok
    end.

%% Runs `Fun' in the client, failing (with what the client was doing) if it
%% takes longer than `Bound' ms. A client that did not answer in time is
%% not asked again.
in_client(Fun, Bound) ->
    Client = get(prop_client),
    case get(prop_client_stuck) of
        undefined ->
            Ref = make_ref(),
            Client ! {run, self(), Ref, Fun},
            receive
                {Ref, R} -> R
            after Bound ->
                put(prop_client_stuck, true),
                {prop_hung, Bound, process_info(Client, current_stacktrace)}
            end;
        true ->
            {prop_client_stuck, process_info(Client, current_stacktrace)}
    end.

%% The runner keeps the contexts and loops the sequence started, for the
%% clean-up.
%% Loops are named by a reference (py_event_loop:new/1), contexts by a pid.
alive({loop, Loop}) ->
    case py_context_registry:owner(Loop) of
        {ok, Pid} -> is_process_alive(Pid);
        error -> false
    end;
alive({ctx, Ctx}) ->
    is_process_alive(Ctx).

track(Kind, Pid) ->
    put(prop_tracked, [{Kind, Pid} | get_list(prop_tracked)]).

get_list(Key) ->
    case get(Key) of
        undefined -> [];
        L -> L
    end.

%% Stops every loop and context the sequence started, from the client
%% (which made them: py_event_loop:stop/1 then waits for the loop's end);
%% if the client is stuck, from here after killing it. Every stop is
%% bounded.
cleanup(Client) ->
    Tracked = [T || T <- get_list(prop_tracked), alive(T)],
    Stop = fun({loop, L}) -> {loop, L, py_event_loop:stop(L)};
              ({ctx, C}) -> {ctx, C, py_context:stop(C)}
           end,
    Loops = [T || {loop, _} = T <- Tracked],
    Ctxs = [T || {ctx, _} = T <- Tracked],
    R = case get(prop_client_stuck) of
            undefined ->
                in_client(fun() -> [Stop(T) || T <- Loops ++ Ctxs] end,
                          ?MAX_LIVE * ?LOOP_STOP_BOUND + ?QUICK);
            true ->
                exit(Client, kill),
                [caller_result(caller(fun() -> Stop(T) end), ?LOOP_STOP_BOUND) || T <- Loops ++ Ctxs]
        end,
    Mon = erlang:monitor(process, Client),
    Client ! stop,
    receive {'DOWN', Mon, process, Client, _} -> ok
    after ?QUICK -> exit(Client, kill)
    end,
    Failed = case is_list(R) of
                 true -> [X || X <- R, element(3, X) =/= ok];
                 false -> R
             end,
    case Failed of
        [] -> ok;
        _ -> {cleanup_failed, Failed}
    end.

%%% =====================================================================
%%% Callers: processes that make one call the runner watches
%%% =====================================================================

caller(Fun) ->
    spawn_monitor(fun() -> exit({prop_result, Fun()}) end).

caller_result({Pid, Mon}, Bound) ->
    receive
        {'DOWN', Mon, process, Pid, {prop_result, R}} -> R;
        {'DOWN', Mon, process, Pid, Reason} -> {prop_caller_died, Reason}
    after Bound ->
        Stack = process_info(Pid, current_stacktrace),
        exit(Pid, kill),
        {prop_hung, Bound, Stack}
    end.

%% Waits for `{<<"started">>, N}' from Python (or from prop_block).
started(N) ->
    receive {<<"started">>, N} -> ok
    after ?QUICK -> never_started
    end.

%% Waits for `{<<"ended">>, N}': the Python function's `finally' ran.
ended(N) ->
    receive {<<"ended">>, N} -> ok
    after ?QUICK -> never_ended
    end.

uniq() ->
    erlang:unique_integer([positive]).

%% Context facts for failure reports.
diag(Ctx) ->
    {Ctx, is_process_alive(Ctx), catch py_context:info(Ctx)}.

%%% =====================================================================
%%% Commands (run in the runner process)
%%% =====================================================================

%% --- contexts ---------------------------------------------------------

new_ctx(Mode) ->
    count({started, Mode}),
    case in_client(fun() -> py_context:new(#{mode => Mode, preload => ?PRELOAD}) end, ?START_BOUND) of
        {ok, Pid} -> track(ctx, Pid), Pid;
        Other -> {prop_failed, Other}
    end.

stop_ctx(Ctx) ->
    in_client(fun() -> py_context:stop(Ctx) end, ?STOP_BOUND).

%% Stops (`stop') or kills (`kill') a context, optionally with a spinning
%% call running and `NQueued' calls queued behind it.
end_ctx(Ctx, How, InFlight, NQueued) ->
    Self = self(),
    N = uniq(),
    CtxMon = erlang:monitor(process, Ctx),
    Running = case InFlight of
                  true -> caller(fun() -> py:call(Ctx, '__main__', spin, [Self, N]) end);
                  false -> none
              end,
    case Running =:= none orelse started(N) =:= ok of
        false ->
            {prop_failed, {never_started, diag(Ctx), caller_result(Running, 0)}};
        true ->
            %% Calls queued behind the spinning one (none without it: they
            %% would just run).
            NQ = case InFlight of
                     true -> NQueued;
                     false -> 0
                 end,
            Queued = [caller(fun() ->
                                     Self ! {queued, N, I},
                                     py:call(Ctx, operator, add, [I, 1])
                             end) || I <- lists:seq(1, NQ)],
            [receive {queued, N, I} -> ok after ?QUICK -> ok end || I <- lists:seq(1, NQ)],
            Ended = case How of
                        stop -> in_client(fun() -> py_context:stop(Ctx) end, ?STOP_BOUND);
                        kill -> exit(Ctx, kill), ok
                    end,
            Down = receive {'DOWN', CtxMon, process, Ctx, Reason} -> {down, Reason}
                   after ?QUICK -> {still_alive, diag(Ctx)}
                   end,
            RunningResult = case Running of
                                none -> none;
                                _ -> caller_result(Running, ?QUICK)
                            end,
            {Ended, Down, RunningResult, [caller_result(Q, ?QUICK) || Q <- Queued]}
    end.

%% --- calls with predicted results -------------------------------------

call_add(Ctx, A, B) ->
    in_client(fun() -> py:call(Ctx, operator, add, [A, B]) end, ?QUICK).

eval_expr(Ctx, A, B) ->
    in_client(fun() -> py:eval(Ctx, <<"a * b - a">>, #{a => A, b => B}) end, ?QUICK).

exec_bind(Ctx, Name, V) ->
    Code = iolist_to_binary([atom_to_list(Name), " = ", integer_to_list(V)]),
    in_client(fun() -> py:exec(Ctx, Code) end, ?QUICK).

eval_name(Ctx, Name) ->
    in_client(fun() -> py:eval(Ctx, atom_to_binary(Name)) end, ?QUICK).

%% The same name from another process: its namespace does not have it.
eval_name_elsewhere(Ctx, Name) ->
    caller_result(caller(fun() -> py:eval(Ctx, atom_to_binary(Name)) end), ?QUICK).

call_dead(Ctx, Kind) ->
    in_client(fun() ->
                      case Kind of
                          call -> py:call(Ctx, operator, add, [1, 2]);
                          eval -> py:eval(Ctx, <<"1 + 1">>);
                          main -> py:call(Ctx, '__main__', gen, [1])
                      end
              end, ?QUICK).

%% --- deadlines, interrupts, dead callers ------------------------------

%% `Kind' runs for ever (spin, esleep) or for 300 ms in C (tsleep).
timeout_call(Ctx, Kind, Timeout) ->
    T0 = erlang:monotonic_time(millisecond),
    R = in_client(fun() -> py:call(Ctx, '__main__', Kind, [], #{timeout => Timeout}) end,
                  Timeout + ?SLACK),
    {R, erlang:monotonic_time(millisecond) - T0}.

interrupt_call(Ctx, Kind) ->
    Self = self(),
    N = uniq(),
    C = caller(fun() -> py:call(Ctx, '__main__', Kind, [Self, N]) end),
    case started(N) of
        ok ->
            I = py:interrupt(Ctx),
            Result = caller_result(C, ?QUICK),
            {I, Result, ended(N)};
        never_started ->
            {prop_failed, {never_started, diag(Ctx), caller_result(C, 0)}}
    end.

%% The caller dies while its call runs (or waits for Erlang: callback);
%% the context must answer a later call.
kill_caller(Ctx, Kind) ->
    Self = self(),
    N = uniq(),
    {Pid, Mon} = caller(fun() -> py:call(Ctx, '__main__', Kind, [Self, N]) end),
    case started(N) of
        ok ->
            exit(Pid, kill),
            receive {'DOWN', Mon, process, Pid, _} -> ok end,
            %% The dead caller's request is interrupted (or returns).
            Ended = ended(N),
            {Ended, in_client(fun() -> py:eval(Ctx, <<"1 + 1">>) end, ?QUICK)};
        never_started ->
            {prop_failed, {never_started, diag(Ctx), caller_result({Pid, Mon}, 0)}}
    end.

%% --- streams ----------------------------------------------------------

stream_open(Ctx, Kind) ->
    {F, Args} = case Kind of
                    {finite, N} -> {gen, [N]};
                    blocked -> {blocked_gen, []};
                    endless -> {endless, []}
                end,
    case in_client(fun() -> py:stream_start('__main__', F, Args, #{context => Ctx}) end, ?QUICK) of
        {ok, Ref} when is_reference(Ref) -> Ref;
        Other -> {prop_failed, Other}
    end.

%% collect: wait for the end; cancel: cancel, then wait for the end.
%% Returns {Count, Consecutive, End}: how many values came, whether they
%% were 0, 1, 2, ... in order, and the end message (`no_end' if none came
%% within ?QUICK ms).
stream_finish(Ref, Action) ->
    in_client(fun() ->
                      _ = Action =:= cancel andalso py:stream_cancel(Ref),
                      R = gather(Ref, erlang:monotonic_time(millisecond) + ?QUICK),
                      erase({prop_stream, Ref}),
                      R
              end, ?QUICK + ?SLACK).

%% In the client, every stream's messages are taken as they come, as an
%% owner of several streams must do: credit is lent only while the owner's
%% mailbox holds fewer than 1 024 messages, so unread messages of one
%% stream hold back the others. Per stream: {Count, Consecutive, End}.
absorb(Ref, Msg) ->
    {Count, Consec, End} = stream_buf(Ref),
    %% After the end: {after_end, FirstEnd, ValuesAfter, LaterEnds}.
    New = case {Msg, End} of
              {{data, V}, none} -> {Count + 1, Consec andalso V =:= Count, none};
              {_, none} -> {Count, Consec, Msg};
              {_, {after_end, First, N, Ends}} -> {Count, Consec, after_end(First, N, Ends, Msg)};
              {_, First} -> {Count, Consec, after_end(First, 0, [], Msg)}
          end,
    put({prop_stream, Ref}, New).

after_end(First, N, Ends, {data, _}) -> {after_end, First, N + 1, Ends};
after_end(First, N, Ends, Msg) -> {after_end, First, N, Ends ++ [Msg]}.

stream_buf(Ref) ->
    case get({prop_stream, Ref}) of
        undefined -> {0, true, none};
        B -> B
    end.

drain_streams() ->
    receive
        {py_stream, R, M} -> absorb(R, M), drain_streams()
    after 0 ->
        ok
    end.

gather(Ref, Deadline) ->
    case stream_buf(Ref) of
        {_, _, End} = Done when End =/= none ->
            Done;
        {Count, Consec, none} ->
            receive
                {py_stream, R, M} -> absorb(R, M), gather(Ref, Deadline)
            after max(0, Deadline - erlang:monotonic_time(millisecond)) ->
                {Count, Consec, no_end}
            end
    end.

%% The stream's owner dies after its first value: the context goes on.
stream_owner_dies(Ctx) ->
    Self = self(),
    N = uniq(),
    {Pid, Mon} = caller(fun() ->
                                {ok, Ref} = py:stream_start('__main__', endless, [], #{context => Ctx}),
                                receive {py_stream, Ref, {data, 0}} -> Self ! {<<"started">>, N} end,
                                receive after infinity -> ok end
                        end),
    case started(N) of
        ok ->
            exit(Pid, kill),
            receive {'DOWN', Mon, process, Pid, _} -> ok end,
            in_client(fun() -> py:eval(Ctx, <<"1 + 1">>) end, ?QUICK);
        never_started ->
            {prop_failed, {never_started, diag(Ctx), caller_result({Pid, Mon}, 0)}}
    end.

%% --- channels ---------------------------------------------------------

chan_new() ->
    case py_channel:new() of
        {ok, Ch} -> Ch;
        Other -> {prop_failed, Other}
    end.

chan_send(Ch, V) ->
    py_channel:send(Ch, V).

chan_close(Ch) ->
    py_channel:close(Ch).

chan_drain(Ctx, Ch) ->
    in_client(fun() -> py:call(Ctx, '__main__', drain, [Ch]) end, ?QUICK).

%% A Python reader blocked on an empty channel, then a send or a close.
chan_recv_blocked(Ctx, Ch, Then) ->
    Self = self(),
    N = uniq(),
    C = caller(fun() -> py:call(Ctx, '__main__', recv_one, [Ch, Self, N]) end),
    case started(N) of
        ok ->
            Sent = case Then of
                       {send, V} -> py_channel:send(Ch, V);
                       close -> py_channel:close(Ch)
                   end,
            {Sent, caller_result(C, ?QUICK)};
        never_started ->
            {prop_failed, {never_started, diag(Ctx), caller_result(C, 0)}}
    end.

%% --- event loops ------------------------------------------------------

loop_new(Mode) ->
    count({started, Mode}),
    case in_client(fun() -> py_event_loop:new(#{mode => Mode}) end, ?START_BOUND) of
        {ok, Loop} -> track(loop, Loop), Loop;
        Other -> {prop_failed, Other}
    end.

loop_task(Loop, X, Kind) ->
    Delay = case Kind of
                short -> 0.005;
                long -> 3600
            end,
    case in_client(fun() -> py_event_loop:create_task(Loop, asyncio, sleep, [Delay, X], #{}) end,
                   ?QUICK) of
        Ref when is_reference(Ref) -> Ref;
        Other -> {prop_failed, Other}
    end.

loop_await(Ref, Timeout) ->
    T0 = erlang:monotonic_time(millisecond),
    R = in_client(fun() -> py_event_loop:await(Ref, Timeout) end, Timeout + ?SLACK),
    {R, erlang:monotonic_time(millisecond) - T0}.

loop_eval(Loop, A, B) ->
    Code = iolist_to_binary([integer_to_list(A), " + ", integer_to_list(B)]),
    in_client(fun() -> py_event_loop:eval(Loop, Code) end, ?QUICK).

loop_stop(Loop) ->
    in_client(fun() -> py_event_loop:stop(Loop) end, ?LOOP_STOP_BOUND).

%% --- object handles ---------------------------------------------------

handle_new(Ctx, V) ->
    case in_client(fun() -> py:call(Ctx, '__main__', opaque, [V]) end, ?QUICK) of
        {ok, H} ->
            case py:is_ref(H) of
                true -> H;
                false -> {prop_failed, {not_a_handle, H}}
            end;
        Other ->
            {prop_failed, Other}
    end.

handle_get(H) ->
    in_client(fun() -> py:getattr(H, v) end, ?QUICK).

handle_method(H, K) ->
    in_client(fun() -> py:call_method(H, get, [K]) end, ?QUICK).

%% Parts with no Erlang form stay handles: an Opaque comes back as one.
handle_to_term(H) ->
    in_client(fun() ->
                      case py:to_term(H) of
                          {ok, H2} -> {ok, py:is_ref(H2)};
                          Other -> Other
                      end
              end, ?QUICK).

%% The handle as an argument of a call on `Ctx'.
handle_arg(Ctx, H) ->
    in_client(fun() -> py:call(Ctx, builtins, getattr, [H, <<"v">>]) end, ?QUICK).

%%% =====================================================================
%%% Model
%%% =====================================================================
%%
%% ctxs    [{Ctx, Mode, #{Name => Value}}]   live contexts, their names
%%                                           (bound by the client's exec)
%% dead    [Ctx]                              ended contexts
%% loops   [{Loop, Mode}]
%% tasks   [{Ref, Loop, X, short | long, live | dead}]
%% streams [{Ref, Ctx, Kind, live | orphan}]
%% chans   [{Ch, Queue, Closed}]
%% handles [{H, Ctx, Mode, V, alive | dead}]
%% modes   #{Ctx => Mode}                     every context of the sequence

initial_state() ->
    #{ctxs => [], dead => [], loops => [], tasks => [], streams => [], chans => [], handles => [],
      modes => #{}}.

%% Both modes where the build has own-GIL interpreters; PY_PROP_MODES
%% (e.g. "worker") narrows them.
modes() ->
    Supported = case py:subinterp_supported() of
                    true -> [worker, owngil];
                    false -> [worker]
                end,
    case os:getenv("PY_PROP_MODES") of
        Modes when is_list(Modes), Modes =/= "" ->
            [M || M <- Supported, lists:member(atom_to_list(M), string:lexemes(Modes, ", "))];
        _ ->
            Supported
    end.

int() ->
    oneof([integer(-100, 100), integer(-(1 bsl 62), 1 bsl 62), integer(-(1 bsl 200), 1 bsl 200)]).

small_int() ->
    integer(-1000, 1000).

live(#{ctxs := Ctxs, loops := Loops}) ->
    length(Ctxs) + length(Loops).

command(S) ->
    #{ctxs := Ctxs, dead := Dead, loops := Loops, tasks := Tasks, streams := Streams,
      chans := Chans, handles := Handles} = S,
    CanStart = live(S) < ?MAX_LIVE,
    Free = [C || {C, _, _} <- Ctxs, not has_open_stream(C, S)],
    Open = [Ch || {Ch, [], false} <- Chans],
    %% Starting things is likelier while there is little to work on.
    NewCtxWeight = case Ctxs of
                       [] -> 8;
                       [_] -> 3;
                       _ -> 1
                   end,
    frequency(
      [{NewCtxWeight, {call, ?MODULE, new_ctx, [elements(modes())]}} || CanStart] ++
      [{1, {call, ?MODULE, loop_new, [elements(modes())]}} || CanStart] ++
      [{case Chans of [] -> 2; _ -> 1 end, {call, ?MODULE, chan_new, []}} || length(Chans) < 3] ++
      [{3, {call, ?MODULE, chan_send, [elements([Ch || {Ch, _, _} <- Chans]), int()]}} || Chans =/= []] ++
      [{1, {call, ?MODULE, chan_close, [elements([Ch || {Ch, _, _} <- Chans])]}} || Chans =/= []] ++
      [{2, {call, ?MODULE, call_dead, [elements(Dead), elements([call, eval, main])]}} || Dead =/= []] ++
      [{2, {call, ?MODULE, handle_get, [elements([H || {H, _, _, _, _} <- Handles])]}} || Handles =/= []] ++
      [{2, {call, ?MODULE, handle_method, [elements([H || {H, _, _, _, _} <- Handles]), small_int()]}}
       || Handles =/= []] ++
      [{1, {call, ?MODULE, handle_to_term, [elements([H || {H, _, _, _, _} <- Handles])]}} || Handles =/= []] ++
      [{4, {call, ?MODULE, stream_finish, [exactly(R), stream_action(K, St)]}} || {R, _, K, St} <- Streams] ++
      [{2, {call, ?MODULE, loop_eval, [elements([L || {L, _} <- Loops]), int(), int()]}} || Loops =/= []] ++
      [{3, {call, ?MODULE, loop_task, [elements([L || {L, _} <- Loops]), int(),
                                         frequency([{3, short}, {1, long}])]}}
       || Loops =/= [], length(Tasks) < 6] ++
      [{4, {call, ?MODULE, loop_await, [exactly(R), await_timeout(K, St)]}} || {R, _, _, K, St} <- Tasks] ++
      [{2, {call, ?MODULE, loop_stop, [elements([L || {L, _} <- Loops])]}} || Loops =/= []] ++
      case Ctxs of
          [] ->
              [];
          _ ->
              Ctx = elements([C || {C, _, _} <- Ctxs]),
              [{2, {call, ?MODULE, stop_ctx, [Ctx]}},
               {2, {call, ?MODULE, end_ctx, [Ctx, elements([stop, kill]), elements([false, true]),
                                             integer(0, 2)]}},
               {5, {call, ?MODULE, call_add, [Ctx, int(), int()]}},
               {3, {call, ?MODULE, eval_expr, [Ctx, int(), int()]}},
               {4, {call, ?MODULE, exec_bind, [Ctx, elements(?NAMES), int()]}},
               {4, {call, ?MODULE, eval_name, [Ctx, elements(?NAMES)]}},
               {1, {call, ?MODULE, eval_name_elsewhere, [Ctx, elements(?NAMES)]}},
               {4, {call, ?MODULE, timeout_call, [Ctx, elements([spin, esleep, tsleep]), integer(10, 250)]}},
               {3, {call, ?MODULE, interrupt_call, [Ctx, elements([spin, esleep])]}},
               {3, {call, ?MODULE, kill_caller, [Ctx, elements([spin, esleep, tsleep, callback])]}},
               {2, {call, ?MODULE, stream_owner_dies, [Ctx]}}] ++
              [{3, {call, ?MODULE, chan_drain, [Ctx, elements([Ch || {Ch, _, _} <- Chans])]}} || Chans =/= []] ++
              [{2, {call, ?MODULE, chan_recv_blocked, [Ctx, elements(Open),
                                                       oneof([{send, int()}, exactly(close)])]}}
               || Open =/= []] ++
              [{2, {call, ?MODULE, stream_open, [Ctx, {finite, integer(0, 600)}]}}
               || length(Streams) < ?MAX_STREAMS] ++
              [{2, {call, ?MODULE, stream_open, [elements(Free), elements([blocked, endless])]}}
               || length(Streams) < ?MAX_STREAMS, Free =/= []] ++
              [{case Handles of [] -> 4; _ -> 2 end, {call, ?MODULE, handle_new, [Ctx, int()]}}
               || length(Handles) < ?MAX_HANDLES] ++
              [{3, {call, ?MODULE, handle_arg, [Ctx, elements([H || {H, _, _, _, _} <- Handles])]}}
               || Handles =/= []]
      end).

stream_action({finite, _}, live) -> collect;
stream_action(_, live) -> cancel;
stream_action(_, orphan) -> collect.

%% Awaiting a long task alive times out; the rest answer.
await_timeout(long, live) -> integer(10, 200);
await_timeout(_, _) -> exactly(?QUICK).

%% A blocked or endless stream keeps its driver waiting on the context's
%% thread; requests run on top of it, and a waiting request resumes only
%% once everything on top of it has ended (docs/architecture.md). So the
%% model never puts one on a context where another stream may still have
%% to resume: another blocked or endless one, or a finite one of 256
%% values or more (its driver waits for the relay's next credit).
has_open_stream(Ctx, #{streams := Streams}) ->
    lists:any(fun({_, C, K, live}) ->
                      C =:= Ctx andalso (K =:= blocked orelse K =:= endless
                                         orelse (is_tuple(K) andalso element(2, K) >= 256));
                 (_) -> false
              end, Streams).

%% --- preconditions (also checked while shrinking) ---------------------

precondition(S, {call, _, new_ctx, _}) -> live(S) < ?MAX_LIVE;
precondition(S, {call, _, loop_new, _}) -> live(S) < ?MAX_LIVE;
precondition(S, {call, _, chan_new, _}) -> length(maps:get(chans, S)) < 3;
precondition(S, {call, _, F, [Ch | _]}) when F =:= chan_send; F =:= chan_close ->
    lists:keymember(Ch, 1, maps:get(chans, S));
precondition(S, {call, _, call_dead, [Ctx, _]}) -> lists:member(Ctx, maps:get(dead, S));
precondition(S, {call, _, F, [H | _]}) when F =:= handle_get; F =:= handle_method; F =:= handle_to_term ->
    lists:keymember(H, 1, maps:get(handles, S));
precondition(S, {call, _, stream_finish, [R, Action]}) ->
    case lists:keyfind(R, 1, maps:get(streams, S)) of
        {R, _, Kind, St} -> stream_action(Kind, St) =:= Action;
        false -> false
    end;
precondition(S, {call, _, F, [L | _]}) when F =:= loop_eval; F =:= loop_task; F =:= loop_stop ->
    lists:keymember(L, 1, maps:get(loops, S)) andalso
        (F =/= loop_task orelse length(maps:get(tasks, S)) < 6);
precondition(S, {call, _, loop_await, [R, T]}) ->
    case lists:keyfind(R, 1, maps:get(tasks, S)) of
        {R, _, _, long, live} -> T < ?QUICK;
        {R, _, _, _, _} -> T =:= ?QUICK;
        false -> false
    end;
precondition(S, {call, _, chan_drain, [Ctx, Ch]}) ->
    is_live_ctx(Ctx, S) andalso lists:keymember(Ch, 1, maps:get(chans, S));
precondition(S, {call, _, chan_recv_blocked, [Ctx, Ch, _]}) ->
    is_live_ctx(Ctx, S) andalso lists:member({Ch, [], false}, maps:get(chans, S));
precondition(S, {call, _, stream_open, [Ctx, Kind]}) ->
    is_live_ctx(Ctx, S) andalso length(maps:get(streams, S)) < ?MAX_STREAMS
        andalso (is_tuple(Kind) orelse not has_open_stream(Ctx, S));
precondition(S, {call, _, handle_new, [Ctx, _]}) ->
    is_live_ctx(Ctx, S) andalso length(maps:get(handles, S)) < ?MAX_HANDLES;
precondition(S, {call, _, handle_arg, [Ctx, H]}) ->
    is_live_ctx(Ctx, S) andalso lists:keymember(H, 1, maps:get(handles, S));
precondition(S, {call, _, _, [Ctx | _]}) ->
    is_live_ctx(Ctx, S);
precondition(_S, _) ->
    true.

is_live_ctx(Ctx, #{ctxs := Ctxs}) ->
    lists:keymember(Ctx, 1, Ctxs).

%% --- state transitions ------------------------------------------------

next_state(S = #{ctxs := Ctxs, modes := Modes}, V, {call, _, new_ctx, [Mode]}) ->
    S#{ctxs := Ctxs ++ [{V, Mode, #{}}], modes := Modes#{V => Mode}};
next_state(S, _V, {call, _, F, [Ctx | _]}) when F =:= stop_ctx; F =:= end_ctx ->
    ctx_ended(Ctx, S);
next_state(S = #{ctxs := Ctxs}, _V, {call, _, exec_bind, [Ctx, Name, V]}) ->
    {Ctx, Mode, Names} = lists:keyfind(Ctx, 1, Ctxs),
    S#{ctxs := lists:keyreplace(Ctx, 1, Ctxs, {Ctx, Mode, Names#{Name => V}})};
next_state(S = #{streams := Streams}, V, {call, _, stream_open, [Ctx, Kind]}) ->
    S#{streams := Streams ++ [{V, Ctx, Kind, live}]};
next_state(S = #{streams := Streams}, _V, {call, _, stream_finish, [R, _]}) ->
    S#{streams := lists:keydelete(R, 1, Streams)};
next_state(S = #{chans := Chans}, V, {call, _, chan_new, []}) ->
    S#{chans := Chans ++ [{V, [], false}]};
next_state(S = #{chans := Chans}, _V, {call, _, chan_send, [Ch, X]}) ->
    case lists:keyfind(Ch, 1, Chans) of
        {Ch, Q, false} -> S#{chans := lists:keyreplace(Ch, 1, Chans, {Ch, Q ++ [X], false})};
        _ -> S
    end;
next_state(S = #{chans := Chans}, _V, {call, _, chan_close, [Ch]}) ->
    {Ch, Q, _} = lists:keyfind(Ch, 1, Chans),
    S#{chans := lists:keyreplace(Ch, 1, Chans, {Ch, Q, true})};
next_state(S = #{chans := Chans}, _V, {call, _, chan_drain, [_, Ch]}) ->
    {Ch, _, Closed} = lists:keyfind(Ch, 1, Chans),
    S#{chans := lists:keyreplace(Ch, 1, Chans, {Ch, [], Closed})};
next_state(S = #{chans := Chans}, _V, {call, _, chan_recv_blocked, [_, Ch, close]}) ->
    S#{chans := lists:keyreplace(Ch, 1, Chans, {Ch, [], true})};
next_state(S = #{loops := Loops}, V, {call, _, loop_new, [Mode]}) ->
    S#{loops := Loops ++ [{V, Mode}]};
next_state(S = #{tasks := Tasks}, V, {call, _, loop_task, [L, X, Kind]}) ->
    S#{tasks := Tasks ++ [{V, L, X, Kind, live}]};
next_state(S = #{tasks := Tasks}, _V, {call, _, loop_await, [R, _]}) ->
    S#{tasks := lists:keydelete(R, 1, Tasks)};
next_state(S = #{loops := Loops, tasks := Tasks}, _V, {call, _, loop_stop, [L]}) ->
    S#{loops := lists:keydelete(L, 1, Loops),
       tasks := [case T of
                     {R, L, X, K, live} -> {R, L, X, K, dead};
                     _ -> T
                 end || T <- Tasks]};
next_state(S = #{ctxs := Ctxs, handles := Hs}, V, {call, _, handle_new, [Ctx, X]}) ->
    {Ctx, Mode, _} = lists:keyfind(Ctx, 1, Ctxs),
    S#{handles := Hs ++ [{V, Ctx, Mode, X, alive}]};
next_state(S, _V, _Call) ->
    S.

ctx_ended(Ctx, S = #{ctxs := Ctxs, dead := Dead, streams := Streams, handles := Hs}) ->
    S#{ctxs := lists:keydelete(Ctx, 1, Ctxs),
       dead := lists:sublist([Ctx | Dead], 3),
       streams := [case St of
                       {R, Ctx, K, _} -> {R, Ctx, K, orphan};
                       _ -> St
                   end || St <- Streams],
       handles := [case H of
                       {Ref, Ctx, M, X, _} -> {Ref, Ctx, M, X, dead};
                       _ -> H
                   end || H <- Hs]}.

%% --- postconditions ---------------------------------------------------

postcondition(S, Call, R) ->
    expected(S, Call, R).

expected(_S, {call, _, new_ctx, _}, R) ->
    is_pid(R);
expected(_S, {call, _, loop_new, _}, R) ->
    is_reference(R);
expected(_S, {call, _, F, _}, R) when F =:= chan_new; F =:= stream_open; F =:= loop_task ->
    is_reference(R);
expected(_S, {call, _, handle_new, _}, R) ->
    is_reference(R);
expected(_S, {call, _, stop_ctx, _}, R) ->
    R =:= ok;
expected(_S, {call, _, end_ctx, [_, How, InFlight, NQueued]}, R) ->
    case R of
        {Ended, {down, _}, Running, Queued}
          when length(Queued) =:= NQueued orelse (not InFlight andalso Queued =:= []) ->
            Ended =:= ok andalso
                case {InFlight, How} of
                    {false, _} -> Running =:= none;
                    {true, kill} -> context_died(Running);
                    %% stop/2: "the running one is interrupted"; its reply
                    %% may come before the context's end.
                    {true, stop} -> context_died(Running) orelse Running =:= {error, interrupted}
                end andalso
                lists:all(fun context_died/1, Queued);
        _ ->
            false
    end;
expected(_S, {call, _, call_add, [_, A, B]}, R) ->
    R =:= {ok, A + B};
expected(_S, {call, _, eval_expr, [_, A, B]}, R) ->
    R =:= {ok, A * B - A};
expected(_S, {call, _, exec_bind, _}, R) ->
    R =:= ok;
expected(#{ctxs := Ctxs}, {call, _, eval_name, [Ctx, Name]}, R) ->
    {Ctx, _, Names} = lists:keyfind(Ctx, 1, Ctxs),
    case Names of
        #{Name := V} -> R =:= {ok, V};
        _ -> name_error(R)
    end;
expected(_S, {call, _, eval_name_elsewhere, _}, R) ->
    name_error(R);
expected(_S, {call, _, call_dead, _}, R) ->
    context_died(R);
expected(_S, {call, _, timeout_call, [_, _, T]}, {R, Elapsed}) ->
    R =:= {error, timeout} andalso Elapsed =< T + ?SLACK;
expected(_S, {call, _, interrupt_call, _}, R) ->
    R =:= {ok, {error, interrupted}, ok};
expected(_S, {call, _, kill_caller, _}, R) ->
    R =:= {ok, {ok, 2}};
expected(_S, {call, _, stream_owner_dies, _}, R) ->
    R =:= {ok, 2};
expected(#{streams := Streams}, {call, _, stream_finish, [Ref, _]}, R) ->
    {Ref, _, Kind, St} = lists:keyfind(Ref, 1, Streams),
    stream_ok(Kind, St, R);
expected(#{chans := Chans}, {call, _, chan_send, [Ch, _]}, R) ->
    case lists:keyfind(Ch, 1, Chans) of
        {Ch, _, false} -> R =:= ok;
        {Ch, _, true} -> R =:= {error, closed}
    end;
expected(_S, {call, _, chan_close, _}, R) ->
    R =:= ok;
expected(#{chans := Chans}, {call, _, chan_drain, [_, Ch]}, R) ->
    {Ch, Q, _} = lists:keyfind(Ch, 1, Chans),
    R =:= {ok, Q};
expected(_S, {call, _, chan_recv_blocked, [_, _, {send, V}]}, R) ->
    R =:= {ok, {ok, V}};
expected(_S, {call, _, chan_recv_blocked, [_, _, close]}, R) ->
    case R of
        {ok, {error, {'ChannelClosed', _}}} -> true;
        _ -> false
    end;
expected(_S, {call, _, loop_eval, [_, A, B]}, R) ->
    R =:= {ok, A + B};
expected(_S, {call, _, loop_stop, _}, R) ->
    R =:= ok;
expected(#{tasks := Tasks}, {call, _, loop_await, [Ref, T]}, {R, Elapsed}) ->
    {Ref, _, X, Kind, St} = lists:keyfind(Ref, 1, Tasks),
    Elapsed =< T + ?SLACK andalso
        case {Kind, St} of
            {short, live} -> R =:= {ok, X};
            {long, live} -> R =:= {error, timeout};
            %% Stopping a loop cancels its pending tasks; a short one may
            %% have ended before.
            {short, dead} -> R =:= {ok, X} orelse R =:= {error, cancelled};
            {long, dead} -> R =:= {error, cancelled}
        end;
expected(#{handles := Hs}, {call, _, handle_get, [H]}, R) ->
    {H, _, _, V, St} = lists:keyfind(H, 1, Hs),
    case St of
        alive -> R =:= {ok, V};
        dead -> context_died(R)
    end;
expected(#{handles := Hs}, {call, _, handle_method, [H, K]}, R) ->
    {H, _, _, V, St} = lists:keyfind(H, 1, Hs),
    case St of
        alive -> R =:= {ok, V + K};
        dead -> context_died(R)
    end;
expected(#{handles := Hs}, {call, _, handle_to_term, [H]}, R) ->
    {H, _, _, _, St} = lists:keyfind(H, 1, Hs),
    case St of
        alive -> R =:= {ok, true};
        dead -> context_died(R)
    end;
expected(#{ctxs := Ctxs, handles := Hs}, {call, _, handle_arg, [Ctx, H]}, R) ->
    {H, Owner, OwnerMode, V, _} = lists:keyfind(H, 1, Hs),
    {Ctx, Mode, _} = lists:keyfind(Ctx, 1, Ctxs),
    %% Worker contexts share the main interpreter (objects stay valid
    %% after their context ends); an own-GIL context's objects live in
    %% its interpreter only.
    Same = (Mode =:= worker andalso OwnerMode =:= worker) orelse Owner =:= Ctx,
    case Same of
        true -> R =:= {ok, V};
        false -> case R of
                     {error, {bad_term, _}} -> true;
                     _ -> false
                 end
    end;
expected(_S, _Call, _R) ->
    false.

count(Key) ->
    catch ets:update_counter(py_prop_counters, Key, 1, {Key, 0}).

started_count(Mode) ->
    case catch ets:lookup(py_prop_counters, {started, Mode}) of
        [{_, N}] -> N;
        _ -> 0
    end.

context_died({error, {context_died, _}}) -> true;
context_died(_) -> false.

name_error({error, {'NameError', _}}) -> true;
name_error(_) -> false.

%% Values always come as 0, 1, 2, ... in order, then one end message. A
%% finite stream collected alive: all its values, then done. A blocked one
%% cancelled: at most its first value, then cancelled. An endless one
%% cancelled: cancelled. A stream whose context ended: done after all its
%% values, or an error.
stream_ok({finite, N}, live, {Count, Consec, End}) ->
    Consec andalso Count =:= N andalso End =:= done;
stream_ok(blocked, live, {Count, Consec, End}) ->
    Consec andalso Count =< 1 andalso End =:= {error, <<"cancelled">>};
stream_ok(endless, live, {_Count, Consec, End}) ->
    Consec andalso End =:= {error, <<"cancelled">>};
stream_ok(Kind, orphan, {Count, Consec, End}) ->
    Consec andalso
        case {Kind, End} of
            {{finite, N}, done} -> Count =:= N;
            {{finite, N}, {error, _}} -> Count =< N;
            {blocked, {error, _}} -> Count =< 1;
            {endless, {error, _}} -> true;
            _ -> false
        end;
stream_ok(_, _, _) ->
    false.

%%% =====================================================================
%%% Resources
%%% =====================================================================

%% Runs every feature once (so what the library starts on first use is
%% there before any baseline) and fills the own-GIL reuse pool.
warm_up() ->
    Cmds = [{set, {var, 1}, {call, ?MODULE, new_ctx, [worker]}},
            {set, {var, 2}, {call, ?MODULE, call_add, [{var, 1}, 1, 2]}},
            {set, {var, 3}, {call, ?MODULE, loop_new, [worker]}},
            {set, {var, 4}, {call, ?MODULE, loop_task, [{var, 3}, 1, short]}},
            {set, {var, 5}, {call, ?MODULE, loop_await, [{var, 4}, ?QUICK]}},
            {set, {var, 6}, {call, ?MODULE, stream_open, [{var, 1}, {finite, 3}]}},
            {set, {var, 7}, {call, ?MODULE, stream_finish, [{var, 6}, collect]}},
            {set, {var, 8}, {call, ?MODULE, kill_caller, [{var, 1}, callback]}},
            {set, {var, 9}, {call, ?MODULE, timeout_call, [{var, 1}, spin, 20]}},
            {set, {var, 10}, {call, ?MODULE, handle_new, [{var, 1}, 1]}},
            {set, {var, 11}, {call, ?MODULE, handle_get, [{var, 10}]}},
            {set, {var, 12}, {call, ?MODULE, chan_new, []}},
            {set, {var, 13}, {call, ?MODULE, chan_drain, [{var, 1}, {var, 12}]}},
            {set, {var, 14}, {call, ?MODULE, end_ctx, [{var, 1}, kill, true, 1]}},
            {set, {var, 15}, {call, ?MODULE, loop_stop, [{var, 3}]}}],
    {{_, _, ok}, ok} = run_sequence(Cmds),
    case py:subinterp_supported() of
        true ->
            {_Idle, Max} = py_nif:owngil_pool_info(),
            Owngil = [{set, {var, I}, {call, ?MODULE, new_ctx, [owngil]}} || I <- lists:seq(1, Max)],
            {{_, _, ok}, ok} = run_sequence(Owngil);
        false ->
            ok
    end,
    ok.

stats() ->
    {Idle, _Max} = case py:subinterp_supported() of
                       true -> py_nif:owngil_pool_info();
                       false -> {0, 0}
                   end,
    #{threads => count_dir("/proc/self/task"), fds => count_dir("/proc/self/fd"),
      procs => erlang:system_info(process_count), pool_idle => Idle, rss_kb => rss_kb(),
      contexts => ets:info(py_contexts, size), worker_loops => ets:info(py_worker_loops, size),
      atoms => erlang:system_info(atom_count)}.

%% Threads minus the interpreters idle in the own-GIL pool: those are kept
%% for reuse on purpose.
busy_threads(#{threads := T, pool_idle := I}) -> T - I.

excess(Base, Now) ->
    [{threads, busy_threads(Now) - busy_threads(Base), ?SLACK_THREADS},
     {fds, maps:get(fds, Now) - maps:get(fds, Base), ?SLACK_FDS},
     {procs, maps:get(procs, Now) - maps:get(procs, Base), ?SLACK_PROCS},
     {contexts, maps:get(contexts, Now) - maps:get(contexts, Base), 0},
     {worker_loops, maps:get(worker_loops, Now) - maps:get(worker_loops, Base), 0}].

%% Polls (threads and descriptors end after stop returns; there is no
%% event for that) until nothing exceeds the baseline by more than its
%% slack, or ?SETTLE ms have passed.
leak_check(Base) ->
    leak_check(Base, erlang:monotonic_time(millisecond) + ?SETTLE).

leak_check(Base, Deadline) ->
    Now = stats(),
    case [{K, D} || {K, D, Slack} <- excess(Base, Now), D > Slack] of
        [] ->
            ok;
        Over ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> {leak, Over, format_stats(Now)};
                false -> receive after 20 -> leak_check(Base, Deadline) end
            end
    end.

%% Figures once stray threads of the last sequence have ended.
settled_stats() ->
    settled_stats(stats(), 50).

settled_stats(Prev, 0) ->
    Prev;
settled_stats(Prev, N) ->
    receive after 20 -> ok end,
    Now = stats(),
    case busy_threads(Now) =:= busy_threads(Prev) andalso maps:get(fds, Now) =:= maps:get(fds, Prev) of
        true -> Now;
        false -> settled_stats(Now, N - 1)
    end.

format_stats(#{threads := T, fds := F, procs := P, pool_idle := I, rss_kb := R, contexts := C,
               atoms := A}) ->
    io_lib:format("rss ~p kB, threads ~p (~p idle own-GIL), fds ~p, processes ~p, contexts ~p, atoms ~p",
                  [R, T, I, F, P, C, A]).

format_delta(B, A) ->
    D = fun(K) -> signed(maps:get(K, A) - maps:get(K, B)) end,
    io_lib:format("rss ~s kB, threads ~s (not idle in the pool: ~s), fds ~s, processes ~s, atoms ~s",
                  [D(rss_kb), D(threads), signed(busy_threads(A) - busy_threads(B)), D(fds), D(procs),
                   D(atoms)]).

signed(N) when N >= 0 -> [$+ | integer_to_list(N)];
signed(N) -> integer_to_list(N).

count_dir(Dir) ->
    {ok, Names} = file:list_dir(Dir),
    length(Names).

rss_kb() ->
    {ok, Status} = file:read_file("/proc/self/status"),
    [Line] = [L || <<"VmRSS:", L/binary>> <- binary:split(Status, <<"\n">>, [global])],
    binary_to_integer(hd(string:lexemes(Line, " \tkB"))).
