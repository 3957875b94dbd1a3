%% Shared state: py:state_* from Erlang, erlang.state_* from Python (worker
%% and owngil contexts), atomic counters under concurrency, the entry cap.
-module(py_state_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(PY_OWN_INIT_PER_TESTCASE, true).
-define(PY_OWN_END_PER_TESTCASE, true).
-define(PY_BOTH_MODES, <<>>).
-include("py_suite.hrl").

all() ->
    [erlang_side, counters_are_atomic, entry_cap, reserved_key,
     {group, worker}, {group, owngil}].

groups() ->
    Cases = [python_side, both_sides_share, python_counters_from_threads],
    py_test_groups:both_modes(Cases).

init_per_testcase(_Case, Config) ->
    ok = py:state_clear(),
    py_test_groups:context_for_case(Config, <<"import erlang">>).

end_per_testcase(_Case, Config) ->
    application:unset_env(erlang_python, max_state_entries),
    py_test_groups:stop_case_context(Config).

erlang_side(_Config) ->
    ?assertEqual({error, not_found}, py:state_fetch(k)),
    ok = py:state_store(k, #{a => [1, 2]}),
    ?assertEqual({ok, #{a => [1, 2]}}, py:state_fetch(k)),
    ok = py:state_store(k, v2),
    ?assertEqual({ok, v2}, py:state_fetch(k)),
    ok = py:state_store(other, 1),
    ?assertEqual([k, other], lists:sort(py:state_keys())),
    ok = py:state_remove(k),
    ok = py:state_remove(k),
    ?assertEqual([other], py:state_keys()),
    ?assertEqual(1, py:state_incr(n)),
    ?assertEqual(11, py:state_incr(n, 10)),
    ?assertEqual(10, py:state_decr(n)),
    ?assertEqual(5, py:state_decr(n, 5)),
    ok = py:state_clear(),
    ?assertEqual([], py:state_keys()).

counters_are_atomic(_Config) ->
    Parent = self(),
    Workers = [spawn_link(fun() ->
                                  [py:state_incr(hits) || _ <- lists:seq(1, 1000)],
                                  Parent ! done
                          end) || _ <- lists:seq(1, 10)],
    [receive done -> ok end || _ <- Workers],
    ?assertEqual({ok, 10000}, py:state_fetch(hits)).

entry_cap(_Config) ->
    ok = application:set_env(erlang_python, max_state_entries, 3),
    ok = py:state_store(a, 1),
    ok = py:state_store(b, 2),
    ok = py:state_store(c, 3),
    ?assertEqual({error, full}, py:state_store(d, 4)),
    ?assertEqual({error, not_found}, py:state_fetch(d)),
    %% Overwriting an existing key is always allowed.
    ok = py:state_store(a, 10),
    ?assertError(full, py:state_incr(e)),
    ok = py:state_remove(a),
    ok = py:state_store(d, 4),
    ?assertEqual([b, c, d], lists:sort(py:state_keys())),
    %% From Python the refusal is an exception carrying the reason.
    ?assertMatch({error, {'ErlangError', _}}, py:eval(<<"__import__('erlang').state_set('new', 1)">>)).

reserved_key(_Config) ->
    ?assertEqual({error, reserved_key}, py:state_store('$py_state_size$', 1)),
    ?assertError(reserved_key, py:state_incr('$py_state_size$')),
    ?assertEqual({error, not_found}, py:state_fetch('$py_state_size$')),
    ?assertEqual([], py:state_keys()).

python_side(Config) ->
    Ctx = ?config(ctx, Config),
    ?assertEqual({ok, none}, py_context:eval(Ctx, <<"erlang.state_get('missing')">>)),
    ok = py_context:exec(Ctx, <<"erlang.state_set('k', {'x': [1, 2]})">>),
    ?assertEqual({ok, #{<<"x">> => [1, 2]}}, py_context:eval(Ctx, <<"erlang.state_get('k')">>)),
    ?assertEqual({ok, 5}, py_context:eval(Ctx, <<"erlang.state_incr('c', 5)">>)),
    ?assertEqual({ok, 3}, py_context:eval(Ctx, <<"erlang.state_decr('c', 2)">>)),
    ?assertEqual({ok, 4}, py_context:eval(Ctx, <<"erlang.state_incr('c')">>)),
    ?assertEqual({ok, [<<"c">>, <<"k">>]}, py_context:eval(Ctx, <<"sorted(erlang.state_keys())">>)),
    ok = py_context:exec(Ctx, <<"erlang.state_delete('k')">>),
    ?assertEqual({ok, [<<"c">>]}, py_context:eval(Ctx, <<"erlang.state_keys()">>)),
    ok = py_context:exec(Ctx, <<"erlang.state_clear()">>),
    ?assertEqual({ok, []}, py_context:eval(Ctx, <<"erlang.state_keys()">>)).

both_sides_share(Config) ->
    Ctx = ?config(ctx, Config),
    ok = py:state_store(<<"from_erlang">>, [1, 2, 3]),
    ?assertEqual({ok, [1, 2, 3]}, py_context:eval(Ctx, <<"erlang.state_get('from_erlang')">>)),
    ok = py_context:exec(Ctx, <<"erlang.state_set('from_python', (1, 'two'))">>),
    ?assertEqual({ok, {1, <<"two">>}}, py:state_fetch(<<"from_python">>)).

python_counters_from_threads(Config) ->
    Ctx = ?config(ctx, Config),
    ok = py_context:exec(Ctx, <<"import threading\n"
                                "def bump(n, per):\n"
                                "    ts = [threading.Thread(target=lambda: [erlang.state_incr('t') for _ in range(per)])\n"
                                "          for _ in range(n)]\n"
                                "    for t in ts: t.start()\n"
                                "    for t in ts: t.join()\n"
                                "    return erlang.state_get('t')\n">>),
    Parent = self(),
    spawn_link(fun() -> [py:state_incr(<<"t">>) || _ <- lists:seq(1, 500)], Parent ! done end),
    {ok, _} = py_context:call(Ctx, '__main__', bump, [8, 100]),
    receive done -> ok end,
    ?assertEqual({ok, 1300}, py:state_fetch(<<"t">>)).
