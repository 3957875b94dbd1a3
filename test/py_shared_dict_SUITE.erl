%% SharedDict: a dict owned by an Erlang process, used concurrently from
%% Erlang and from Python (worker and owngil contexts).
-module(py_shared_dict_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(PY_OWN_INIT_PER_TESTCASE, true).
-define(PY_BOTH_MODES, <<>>).
-include("py_suite.hrl").

all() ->
    [{group, worker}, {group, owngil}, erlang_side, gone_with_its_owner, destroyed_handles_are_badarg].

groups() ->
    py_test_groups:both_modes([python_side, both_sides_concurrently]).

-define(PY, <<"def use(h):\n"
              "    d = erlang.SharedDict(h)\n"
              "    seen = (d['from_erlang'], d.get('missing', 'default'), 'from_erlang' in d, b'from_erlang' in d)\n"
              "    d['from_python'] = {'nested': [1, 2.5, None]}\n"
              "    d[b'raw'] = b'bytes'\n"
              "    try:\n"
              "        d['missing']\n"
              "        missing = 'no KeyError'\n"
              "    except KeyError:\n"
              "        missing = 'KeyError'\n"
              "    del d['to_delete']\n"
              "    try:\n"
              "        del d['to_delete']\n"
              "        again = 'no KeyError'\n"
              "    except KeyError:\n"
              "        again = 'KeyError'\n"
              "    try:\n"
              "        d['bad'] = object()\n"
              "        opaque = 'stored'\n"
              "    except TypeError:\n"
              "        opaque = 'TypeError'\n"
              "    return seen, missing, again, opaque, sorted(d.keys()), len(d)\n"
              "def bump(h, key, n):\n"
              "    d = erlang.SharedDict(h)\n"
              "    for i in range(n):\n"
              "        d[key] = i\n"
              "    return d[key]\n">>).

call(Config, Fun, Args) ->
    py_context:call(?config(ctx, Config), '__main__', Fun, Args, #{}, 30000).

erlang_side(_Config) ->
    {ok, D} = py:shared_dict_new(),
    ?assertEqual(undefined, py:shared_dict_get(D, <<"k">>)),
    ?assertEqual(fallback, py:shared_dict_get(D, <<"k">>, fallback)),
    Value = #{<<"host">> => <<"localhost">>, <<"port">> => 8080, list => [1, {2, three}], pid => self()},
    ok = py:shared_dict_set(D, <<"k">>, Value),
    ?assertEqual(Value, py:shared_dict_get(D, <<"k">>)),
    ok = py:shared_dict_set(D, <<"other">>, 1 bsl 100),
    ?assertEqual([<<"k">>, <<"other">>], lists:sort(py:shared_dict_keys(D))),
    ok = py:shared_dict_del(D, <<"k">>),
    ok = py:shared_dict_del(D, <<"k">>),
    ?assertEqual([<<"other">>], py:shared_dict_keys(D)),
    ?assertError(function_clause, py:shared_dict_get(D, not_a_binary)),
    ok = py:shared_dict_destroy(D).

python_side(Config) ->
    {ok, D} = py:shared_dict_new(),
    ok = py:shared_dict_set(D, <<"from_erlang">>, [1, 2, 3]),
    ok = py:shared_dict_set(D, <<"to_delete">>, x),
    {ok, Result} = call(Config, use, [D]),
    ?assertEqual({{[1, 2, 3], <<"default">>, true, true}, <<"KeyError">>, <<"KeyError">>, <<"TypeError">>,
                  [<<"from_erlang">>, <<"from_python">>, <<"raw">>], 3},
                 Result),
    ?assertEqual(#{<<"nested">> => [1, 2.5, none]}, py:shared_dict_get(D, <<"from_python">>)),
    ?assertEqual(<<"bytes">>, py:shared_dict_get(D, <<"raw">>)),
    ok = py:shared_dict_destroy(D),
    ?assertMatch({error, {'RuntimeError', _}}, call(Config, use, [D])).

both_sides_concurrently(Config) ->
    {ok, D} = py:shared_dict_new(),
    Self = self(),
    Pids = [spawn_link(fun() ->
                               Key = integer_to_binary(K),
                               [ok = py:shared_dict_set(D, Key, I) || I <- lists:seq(1, 2000)],
                               Self ! {done, K, py:shared_dict_get(D, Key)}
                       end) || K <- lists:seq(1, 4)],
    ?assertEqual({ok, 4999}, call(Config, bump, [D, <<"py">>, 5000])),
    [receive {done, K, V} -> ?assertEqual(2000, V) end || K <- lists:seq(1, length(Pids))],
    ?assertEqual([<<"1">>, <<"2">>, <<"3">>, <<"4">>, <<"py">>], lists:sort(py:shared_dict_keys(D))).

gone_with_its_owner(_Config) ->
    Self = self(),
    {Owner, Mon} = spawn_monitor(fun() ->
                                         {ok, D} = py:shared_dict_new(),
                                         ok = py:shared_dict_set(D, <<"k">>, 1),
                                         Self ! {dict, D},
                                         receive stop -> ok end
                                 end),
    D = receive {dict, Dict} -> Dict end,
    ?assertEqual(1, py:shared_dict_get(D, <<"k">>)),
    Owner ! stop,
    receive {'DOWN', Mon, process, Owner, _} -> ok end,
    %% The VM runs the dict's monitor callback as the owner exits; give it
    %% the time it needs without sleeping on a guess.
    ?assertEqual(badarg, until_destroyed(D, erlang:monotonic_time(millisecond) + 10000)).

until_destroyed(D, Deadline) ->
    try py:shared_dict_get(D, <<"k">>) of
        _ when Deadline > 0 ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> still_there;
                false -> erlang:yield(), until_destroyed(D, Deadline)
            end
    catch
        error:badarg -> badarg
    end.

destroyed_handles_are_badarg(_Config) ->
    {ok, D} = py:shared_dict_new(),
    ok = py:shared_dict_destroy(D),
    ok = py:shared_dict_destroy(D),
    ?assertError(badarg, py:shared_dict_get(D, <<"k">>)),
    ?assertError(badarg, py:shared_dict_set(D, <<"k">>, 1)),
    ?assertError(badarg, py:shared_dict_del(D, <<"k">>)),
    ?assertError(badarg, py:shared_dict_keys(D)),
    ?assertError(badarg, py:shared_dict_get(make_ref(), <<"k">>)),
    {ok, Ch} = py_channel:new(),
    ?assertError(badarg, py:shared_dict_keys(Ch)).

init_per_testcase(_Case, Config) ->
    py_test_groups:context_for_case(Config, ?PY).
