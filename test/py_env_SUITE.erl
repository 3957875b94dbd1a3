%% Process-bound namespaces and object handles: visibility, lifetime and
%% release of the Python objects behind them.
-module(py_env_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-include("py_suite.hrl").

all() ->
    [exec_eval_call_share_a_process_namespace, processes_do_not_share, env_freed_with_process,
     handles_basics, handles_as_arguments, handles_in_containers, handle_released_when_collected,
     handle_errors, to_term_converts_what_it_can].

exec_eval_call_share_a_process_namespace(_) ->
    ok = py:exec(<<"def greet(n):\n    return f'hi {n}'\nvisits = 0">>),
    ok = py:exec(<<"visits += 1">>),
    ?assertEqual({ok, 1}, py:eval(<<"visits">>)),
    ?assertEqual({ok, <<"hi bo">>}, py:call('__main__', greet, [<<"bo">>])),
    ?assertEqual({ok, <<"hi bo">>}, py:call(<<"__main__">>, "greet", [<<"bo">>])),
    ?assertEqual({ok, <<"hi bo">>}, py:call('__main__', greet, [], #{n => <<"bo">>})).

processes_do_not_share(_) ->
    ok = py:exec(<<"private = 'mine'">>),
    Self = self(),
    Ctx = py:context(),
    %% Another process on the very same context has its own namespace.
    spawn_link(fun() ->
                   ok = py_context_router:bind_context(Ctx),
                   Self ! {other, py:eval(<<"private">>)}
               end),
    receive {other, R} -> ?assertMatch({error, {'NameError', _}}, R) end,
    ?assertEqual({ok, <<"mine">>}, py:eval(<<"private">>)).

env_freed_with_process(_) ->
    Ctx = py:context(),
    %% A probe object lives only in a short-lived process's namespace; the
    %% context's own namespace keeps a weak reference to it.
    ok = py_context:exec(Ctx, <<"import weakref\nprobes = []">>),
    Self = self(),
    {Pid, MRef} = spawn_monitor(fun() ->
        ok = py_context_router:bind_context(Ctx),
        ok = py:exec(<<"class Probe: pass\nprobe = Probe()">>),
        {ok, Env} = py_context:local_env(Ctx),
        ok = py_context:exec(Ctx, <<"import sys">>),
        {ok, _} = py_context:eval(Ctx, <<"probes.append(weakref.ref(p)) or 1">>, #{p => env_probe_handle(Ctx, Env)}),
        Self ! ready,
        receive never -> ok end
    end),
    receive ready -> ok end,
    ?assertEqual({ok, false}, py_context:eval(Ctx, <<"probes[0]() is None">>)),
    exit(Pid, kill),
    receive {'DOWN', MRef, process, Pid, _} -> ok end,
    ?assert(released(Ctx, <<"probes[0]() is None">>, 100)).

%% A handle to the `probe' object of a namespace (via an eval in it).
env_probe_handle(Ctx, Env) ->
    {ok, H} = py_context:eval(Ctx, <<"probe">>, #{}, 5000, Env),
    H.

%% Whether `Check' becomes true once released objects are flushed; the
%% release of a dead process's data happens when the VM frees its heap.
released(_Ctx, _Check, 0) -> false;
released(Ctx, Check, N) ->
    erlang:garbage_collect(),
    ok = py_nif:flush_releases(),
    case py_context:eval(Ctx, Check) of
        {ok, true} -> true;
        _ -> released(Ctx, Check, N - 1)
    end.

handles_basics(_) ->
    {ok, H} = py:eval(<<"__import__('datetime').date(2024, 2, 29)">>),
    ?assert(py:is_ref(H)),
    ?assertNot(py:is_ref(self())),
    ?assertNot(py:is_ref(42)),
    ?assertEqual({ok, 2024}, py:getattr(H, year)),
    ?assertEqual({ok, 2024}, py:getattr(H, <<"year">>)),
    ?assertEqual({ok, <<"2024-02-29">>}, py:call_method(H, isoformat, [])),
    {ok, Next} = py:call_method(H, '__add__', [one_day()]),
    ?assert(py:is_ref(Next)),
    ?assertEqual({ok, <<"2024-03-01">>}, py:call_method(Next, isoformat, [])),
    ?assertMatch({error, {'AttributeError', _}}, py:getattr(H, no_such_attr)).

one_day() ->
    {ok, D} = py:eval(<<"__import__('datetime').timedelta(days=1)">>),
    D.

handles_as_arguments(_) ->
    {ok, H} = py:eval(<<"__import__('datetime').date(2020, 1, 1)">>),
    ?assertEqual({ok, <<"2020-01-01">>}, py:call(builtins, str, [H])),
    ?assertEqual({ok, 2020}, py:eval(<<"d.year">>, #{d => H})),
    {ok, Ctr} = py:call(collections, 'Counter', [[a, b, a]]),
    %% Counter is a dict subclass: it converts to a map.
    ?assertEqual(#{<<"a">> => 2, <<"b">> => 1}, Ctr).

handles_in_containers(_) ->
    {ok, [1, H, #{<<"k">> := H2}]} =
        py:eval(<<"(lambda o: [1, o, {'k': o}])(object())">>),
    ?assert(py:is_ref(H)),
    ?assertEqual({ok, true}, py:eval(<<"a is b">>, #{a => H, b => H2})),
    {ok, Fn} = py:eval(<<"lambda x: x * 3">>),
    ?assert(py:is_ref(Fn)),
    ?assertEqual({ok, 21}, py:call_method(Fn, '__call__', [7])),
    {ok, Gen} = py:eval(<<"(i * i for i in range(3))">>),
    ?assertEqual({ok, [0, 1, 4]}, py:call(builtins, list, [Gen])).

handle_released_when_collected(_) ->
    Ctx = py:context(),
    ok = py_context:exec(Ctx, <<"import weakref\nclass Thing: pass\nthing_refs = []">>),
    Self = self(),
    {Pid, MRef} = spawn_monitor(fun() ->
        ok = py_context_router:bind_context(Ctx),
        {ok, H} = py_context:eval(Ctx, <<"(lambda t: (thing_refs.append(weakref.ref(t)), t)[1])(Thing())">>),
        ?assert(py:is_ref(H)),
        Self ! ready,
        receive never -> ok end
    end),
    receive ready -> ok end,
    ?assertEqual({ok, false}, py_context:eval(Ctx, <<"thing_refs[0]() is None">>)),
    exit(Pid, kill),
    receive {'DOWN', MRef, process, Pid, _} -> ok end,
    ?assert(released(Ctx, <<"thing_refs[0]() is None">>, 100)).

handle_errors(_) ->
    ?assertEqual({error, {not_a_ref, 42}}, py:getattr(42, x)),
    ?assertEqual({error, {not_a_ref, make_ref_like}}, py:to_term(make_ref_like)),
    {ok, H} = py:eval(<<"object()">>),
    ?assertMatch({error, {'AttributeError', _}}, py:call_method(H, '__call__', [])),
    ?assertMatch({error, {'TypeError', _}}, py:call_method(H, '__eq__', [])).

to_term_converts_what_it_can(_) ->
    {ok, H} = py:eval(<<"type('Box', (), {'__init__': lambda s: None})()">>),
    ?assert(py:is_ref(H)),
    {ok, H2} = py:to_term(H),
    ?assert(py:is_ref(H2)),
    ok = py:exec(<<"import collections\nmk = lambda: collections.OrderedDict(a=1)">>),
    {ok, Od} = py:call('__main__', mk, []),
    ?assertEqual(#{<<"a">> => 1}, Od).
