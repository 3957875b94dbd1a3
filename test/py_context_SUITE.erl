%% Contexts in both modes: lifecycle, every call shape, namespaces, thread
%% affinity, isolation, timeouts and interrupts, death.
-module(py_context_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(PY_BOTH_MODES, <<>>).
-include("py_suite.hrl").

all() ->
    [{group, worker}, {group, owngil}, numpy_in_a_worker_context, numpy_refused_cleanly_in_owngil,
     owngil_isolation, env_from_another_interpreter, supervised_contexts].

groups() ->
    Cases = [lifecycle, call_shapes, eval_shapes, exec_shapes, own_namespace,
             local_envs, same_thread_always, timeout_interrupts, explicit_interrupt,
             interrupt_targets_the_request, context_killed_mid_call, stop_mid_call,
             handles_on_context, interp_ids],
    py_test_groups:both_modes(Cases).

lifecycle(Config) ->
    Mode = ?config(mode, Config),
    {ok, C} = py_context:start_link(my_id, Mode),
    ?assertEqual({ok, 3}, py_context:eval(C, <<"1+2">>)),
    ok = py_context:stop(C),
    ?assertNot(is_process_alive(C)),
    {ok, D} = py_context:start_link(other_id, Mode, #{}),
    ok = py_context:destroy(D),
    ?assertMatch({error, {context_died, _}}, py_context:eval(D, <<"1">>)),
    ok = py_context:stop(D).

call_shapes(Config) ->
    Ctx = ?config(ctx, Config),
    ?assertEqual({ok, 5}, py_context:call(Ctx, operator, add, [2, 3])),
    ?assertEqual({ok, 16}, py_context:call(Ctx, builtins, int, [<<"10">>], #{base => 16})),
    ?assertEqual({ok, 16}, py_context:call(Ctx, builtins, int, [<<"10">>], #{base => 16}, 5000)),
    {ok, Env} = py_context:create_local_env(Ctx),
    ok = py_context:exec(Ctx, <<"def f(x): return x + 100">>, Env),
    ?assertEqual({ok, 101}, py_context:call(Ctx, '__main__', f, [1], #{}, 5000, Env)),
    ?assertMatch({error, {'NameError', _}}, py_context:call(Ctx, '__main__', f, [1])).

eval_shapes(Config) ->
    Ctx = ?config(ctx, Config),
    ?assertEqual({ok, 4}, py_context:eval(Ctx, <<"2+2">>)),
    ?assertEqual({ok, 5}, py_context:eval(Ctx, <<"a+2">>, #{a => 3})),
    ?assertEqual({ok, 5}, py_context:eval(Ctx, <<"a+2">>, #{a => 3}, 5000)),
    {ok, Env} = py_context:create_local_env(Ctx),
    ok = py_context:exec(Ctx, <<"k = 7">>, Env),
    ?assertEqual({ok, 10}, py_context:eval(Ctx, <<"k + a">>, #{a => 3}, 5000, Env)).

exec_shapes(Config) ->
    Ctx = ?config(ctx, Config),
    ok = py_context:exec(Ctx, <<"x = 1">>),
    ?assertEqual({ok, 1}, py_context:eval(Ctx, <<"x">>)),
    ok = py_context:exec(Ctx, "x += 1"),
    ?assertEqual({ok, 2}, py_context:eval(Ctx, <<"x">>)),
    ?assertMatch({error, {'SyntaxError', _}}, py_context:exec(Ctx, <<"x +">>)).

%% py_context:* without an env use the context's own namespace, shared by
%% every caller of that context; py:* use the caller's own.
own_namespace(Config) ->
    Ctx = ?config(ctx, Config),
    ok = py_context:exec(Ctx, <<"shared = 'ctx'">>),
    Self = self(),
    spawn_link(fun() -> Self ! {other, py_context:eval(Ctx, <<"shared">>)} end),
    receive {other, R} -> ?assertEqual({ok, <<"ctx">>}, R) end,
    ?assertMatch({error, {'NameError', _}}, py:eval(Ctx, <<"shared">>)).

local_envs(Config) ->
    Ctx = ?config(ctx, Config),
    ok = py:exec(Ctx, <<"def mine(): return 'mine'\nsecret = 42">>),
    ?assertEqual({ok, 42}, py:eval(Ctx, <<"secret">>)),
    ?assertEqual({ok, <<"mine">>}, py:call(Ctx, '__main__', mine, [])),
    Env = py:get_local_env(Ctx),
    ?assert(is_reference(Env)),
    ?assertEqual(Env, py:get_local_env(Ctx)),
    Self = self(),
    spawn_link(fun() -> Self ! {other, py:eval(Ctx, <<"secret">>), py:call(Ctx, '__main__', mine, [])} end),
    receive
        {other, E1, E2} ->
            ?assertMatch({error, {'NameError', _}}, E1),
            ?assertMatch({error, {'NameError', _}}, E2)
    end,
    %% A namespace is a plain namespace: builtins and __name__ work.
    ?assertEqual({ok, <<"__main__">>}, py:eval(Ctx, <<"__name__">>)),
    ?assertEqual({ok, 3}, py:eval(Ctx, <<"len([1, 2, 3])">>)).

same_thread_always(Config) ->
    Ctx = ?config(ctx, Config),
    {ok, #{thread_id := Tid}} = py_context:info(Ctx),
    Ids = [element(2, py_context:eval(Ctx, <<"__import__('threading').get_native_id()">>))
           || _ <- lists:seq(1, 30)]
        ++ [element(2, py_context:call(Ctx, threading, get_native_id, []))
            || _ <- lists:seq(1, 30)],
    ?assertEqual([Tid], lists:usort(Ids)),
    %% Also from many callers at once.
    Self = self(),
    [spawn_link(fun() -> Self ! {tid, py_context:call(Ctx, threading, get_native_id, [])} end)
     || _ <- lists:seq(1, 20)],
    [receive {tid, R} -> ?assertEqual({ok, Tid}, R) end || _ <- lists:seq(1, 20)].

timeout_interrupts(Config) ->
    Ctx = ?config(ctx, Config),
    ?assertEqual({error, timeout}, py_context:eval(Ctx, <<"[0 for _ in iter(int, 1)]">>, #{}, 200)),
    ?assertEqual({ok, 2}, py_context:eval(Ctx, <<"1+1">>)),
    ?assertEqual({error, timeout},
                 py_context:call(Ctx, builtins, exec, [<<"while True: pass">>], #{}, 200)),
    ?assertEqual({ok, 3}, py_context:eval(Ctx, <<"1+2">>)).

explicit_interrupt(Config) ->
    Ctx = ?config(ctx, Config),
    Self = self(),
    spawn_link(fun() -> Self ! {result, py_context:eval(Ctx, <<"[0 for _ in iter(int, 1)]">>)} end),
    wait_busy(Ctx),
    ?assertEqual(ok, py_context:interrupt(Ctx)),
    receive {result, R} -> ?assertEqual({error, interrupted}, R) end,
    ?assertEqual(not_running, py_context:interrupt(Ctx)),
    ?assertEqual({ok, 1}, py_context:eval(Ctx, <<"1">>)).

%% A timeout interrupts its own request only: one queued behind it runs.
interrupt_targets_the_request(Config) ->
    Ctx = ?config(ctx, Config),
    Self = self(),
    spawn_link(fun() -> Self ! {first, py_context:eval(Ctx, <<"[0 for _ in iter(int, 1)]">>, #{}, 300)} end),
    wait_busy(Ctx),
    spawn_link(fun() -> Self ! {second, py_context:eval(Ctx, <<"sum(range(1000))">>)} end),
    receive {first, R1} -> ?assertEqual({error, timeout}, R1) end,
    receive {second, R2} -> ?assertEqual({ok, 499500}, R2) end.

context_killed_mid_call(Config) ->
    Mode = ?config(mode, Config),
    process_flag(trap_exit, true),
    {ok, C} = py_context:new(#{mode => Mode}),
    Self = self(),
    spawn_link(fun() -> Self ! {result, py_context:eval(C, <<"[0 for _ in iter(int, 1)]">>)} end),
    wait_busy(C),
    exit(C, kill),
    receive {result, R} -> ?assertEqual({error, {context_died, killed}}, R) end.

stop_mid_call(Config) ->
    Mode = ?config(mode, Config),
    {ok, C} = py_context:new(#{mode => Mode}),
    Self = self(),
    spawn(fun() -> Self ! {result, py_context:eval(C, <<"[0 for _ in iter(int, 1)]">>)} end),
    wait_busy(C),
    %% Stopping waits 5 s for the loop, then kills; the caller is told.
    ok = py_context:interrupt(C),
    ok = py_context:stop(C),
    receive {result, R} -> ?assertMatch({error, _}, R) end.

handles_on_context(Config) ->
    Ctx = ?config(ctx, Config),
    {ok, H} = py_context:eval(Ctx, <<"__import__('fractions').Fraction(3, 4)">>),
    ?assert(py:is_ref(H)),
    ?assertEqual({ok, 3}, py:getattr(H, numerator)),
    ?assertEqual({ok, 0.75}, py_context:call_method(Ctx, H, '__float__', [])),
    ?assertEqual({ok, <<"3/4">>}, py_context:call(Ctx, builtins, str, [H])),
    %% A value with no Erlang form stays a handle (to the same object).
    {ok, H2} = py_context:to_term(H),
    ?assert(py:is_ref(H2)),
    ?assertEqual({ok, true}, py_context:eval(Ctx, <<"a is b">>, #{a => H, b => H2})).

%% get_interp_id/1 is unique per context (also for two worker contexts
%% of the main interpreter); info/1 gives the interpreter's own id.
interp_ids(Config) ->
    Ctx = ?config(ctx, Config),
    Mode = ?config(mode, Config),
    {ok, Other} = py_context:new(#{mode => Mode}),
    {ok, Id} = py_context:get_interp_id(Ctx),
    {ok, OtherId} = py_context:get_interp_id(Other),
    ?assert(is_integer(Id) andalso Id > 0),
    ?assertNotEqual(Id, OtherId),
    ?assertEqual({ok, Id}, py_context:get_interp_id(Ctx)),
    {ok, #{interp_id := InterpId}} = py_context:info(Ctx),
    case Mode of
        worker -> ?assertEqual(0, InterpId), ?assertNot(py_context:is_subinterp(Ctx));
        owngil -> ?assert(InterpId > 0), ?assert(py_context:is_subinterp(Ctx))
    end,
    ok = py_context:stop(Other).

numpy_in_a_worker_context(_Config) ->
    {ok, Ctx} = py_context:new(#{mode => worker}),
    ?assertMatch({ok, _}, py_context:eval(Ctx, <<"__import__('numpy').__version__">>)),
    ok = py_context:exec(Ctx, <<"import numpy as np\na = np.arange(12).reshape(3, 4)">>),
    ?assertEqual({ok, 66}, py_context:eval(Ctx, <<"int(a.sum())">>)),
    ?assertEqual({ok, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]}, py_context:eval(Ctx, <<"a">>)),
    ?assertEqual({ok, [12.0, 15.0, 18.0, 21.0]}, py_context:eval(Ctx, <<"a.sum(axis=0).astype(float)">>)),
    ?assertEqual({ok, 2.5}, py_context:eval(Ctx, <<"np.float64(2.5)">>)),
    ?assertEqual({ok, 7}, py_context:eval(Ctx, <<"np.int64(7)">>)),
    Big = lists:seq(1, 10000),
    ?assertEqual({ok, lists:sum(Big)}, py_context:call(Ctx, numpy, sum, [Big])),
    ok = py_context:stop(Ctx).

numpy_refused_cleanly_in_owngil(_Config) ->
    case py:subinterp_supported() of
        false -> {skip, no_subinterpreters};
        true ->
            {ok, Ctx} = py_context:new(#{mode => owngil}),
            ?assertMatch({error, {'ImportError', _}}, py_context:eval(Ctx, <<"__import__('numpy')">>)),
            ?assertEqual({ok, 2}, py_context:eval(Ctx, <<"1+1">>)),
            ok = py_context:stop(Ctx)
    end.

owngil_isolation(_Config) ->
    case py:subinterp_supported() of
        false -> {skip, no_subinterpreters};
        true ->
            {ok, A} = py_context:new(#{mode => owngil}),
            {ok, B} = py_context:new(#{mode => owngil}),
            ok = py_context:exec(A, <<"import sys, json; sys.modules['only_in_a'] = json">>),
            ?assertEqual({ok, true}, py_context:eval(A, <<"'only_in_a' in __import__('sys').modules">>)),
            ?assertEqual({ok, false}, py_context:eval(B, <<"'only_in_a' in __import__('sys').modules">>)),
            ?assertEqual({ok, false}, py:eval(<<"'only_in_a' in __import__('sys').modules">>)),
            {ok, TA} = py_context:call(A, threading, get_native_id, []),
            {ok, TB} = py_context:call(B, threading, get_native_id, []),
            ?assertNotEqual(TA, TB),
            ok = py_context:stop(A),
            ok = py_context:stop(B)
    end.

env_from_another_interpreter(_Config) ->
    case py:subinterp_supported() of
        false -> {skip, no_subinterpreters};
        true ->
            {ok, A} = py_context:new(#{mode => owngil}),
            {ok, B} = py_context:new(#{mode => owngil}),
            {ok, EnvA} = py_context:create_local_env(A),
            ?assertEqual({error, env_wrong_interpreter}, py_context:eval(B, <<"1">>, #{}, 5000, EnvA)),
            {ok, HA} = py_context:eval(A, <<"object()">>),
            ?assertMatch({error, {bad_term, _}}, py_context:call(B, builtins, id, [HA])),
            ?assertMatch({ok, _}, py_context:call(A, builtins, id, [HA])),
            ok = py_context:stop(A),
            ok = py_context:stop(B)
    end.

supervised_contexts(_Config) ->
    {ok, C} = py_context_sup:start_context(sup_test, worker),
    ?assert(lists:member(C, py_context_sup:which_contexts())),
    ?assertEqual({ok, 1}, py_context:eval(C, <<"1">>)),
    ok = py_context_sup:stop_context(C),
    ?assertNot(is_process_alive(C)).

wait_busy(Ctx) ->
    wait_busy(Ctx, 500).

wait_busy(Ctx, 0) -> ct:fail({never_busy, Ctx});
wait_busy(Ctx, N) ->
    case py_context:info(Ctx) of
        {ok, #{busy := true}} -> ok;
        _ -> receive after 10 -> wait_busy(Ctx, N - 1) end
    end.
