%% Streaming the values of Python generators (sync and async) to Erlang:
%% collecting, event-driven delivery, backpressure, cancellation, errors,
%% owners that die.
-module(py_stream_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-include("py_suite.hrl").

all() ->
    [collect_sync_and_async, kwargs_and_eval, hundred_thousand_to_a_slow_owner, cancel_runs_finally,
     errors_end_the_stream, another_owner, owner_death_stops_the_generator, lists_and_iterables,
     streams_in_an_owngil_context].

-define(PY, <<"import asyncio\n"
              "def count(n, step=1):\n"
              "    for i in range(0, n * step, step):\n"
              "        yield i\n"
              "async def acount(n):\n"
              "    for i in range(n):\n"
              "        await asyncio.sleep(0)\n"
              "        yield i\n"
              "def endless(pid):\n"
              "    i = 0\n"
              "    try:\n"
              "        while True:\n"
              "            yield i\n"
              "            i += 1\n"
              "    finally:\n"
              "        erlang.send(pid, ('finally', i))\n"
              "def fails_after(n):\n"
              "    yield from range(n)\n"
              "    raise ValueError('broke after %d' % n)\n"
              "def a_list(n):\n"
              "    return list(range(n))\n">>).

init_per_testcase(_Case, Config) ->
    ok = py:exec(?PY),
    Config.

end_per_testcase(_Case, _Config) ->
    ok.

collect_sync_and_async(_Config) ->
    ?assertEqual({ok, [0, 1, 2, 3, 4]}, py:stream('__main__', count, [5])),
    ?assertEqual({ok, []}, py:stream('__main__', count, [0])),
    ?assertEqual({ok, lists:seq(0, 9)}, py:stream('__main__', acount, [10])),
    {ok, Ref} = py:stream_start('__main__', acount, [3]),
    ?assertEqual([{data, 0}, {data, 1}, {data, 2}, done], events(Ref)).

kwargs_and_eval(_Config) ->
    ?assertEqual({ok, [0, 3, 6]}, py:stream('__main__', count, [3], #{step => 3})),
    ?assertEqual({ok, [0, 3, 6]}, py:stream('__main__', count, [3], #{<<"step">> => 3})),
    %% Values are passed as values: nothing is pasted into Python source.
    ?assertEqual({ok, [<<"a'); import os; ('">>]},
                 py:stream(builtins, iter, [[<<"a'); import os; ('">>]])),
    ?assertEqual({ok, [0, 4, 8]}, py:stream_eval(<<"(x * k for x in range(3))">>, #{k => 4})),
    ?assertEqual({ok, [1, 2]}, py:stream_eval(<<"[1, 2]">>)).

%% The owner takes its time over each value; the relay keeps its mailbox
%% bounded (about 1 024 queued plus one window of 256) while 100 000 values
%% go through in order.
hundred_thousand_to_a_slow_owner(_Config) ->
    N = 100000,
    {ok, Ref} = py:stream_start('__main__', count, [N]),
    {Count, MaxQueued} = slow_consume(Ref, 0, 0),
    ?assertEqual(N, Count),
    ct:pal("largest mailbox while streaming ~b values: ~b", [N, MaxQueued]),
    ?assert(MaxQueued =< 1024 + 256 + 8).

slow_consume(Ref, Next, Max) ->
    receive
        {py_stream, Ref, {data, Next}} ->
            {message_queue_len, Q} = erlang:process_info(self(), message_queue_len),
            busy_work(50),
            slow_consume(Ref, Next + 1, max(Max, Q));
        {py_stream, Ref, done} ->
            {Next, Max};
        {py_stream, Ref, Other} ->
            ct:fail({unexpected, Next, Other})
    after 30000 ->
        ct:fail({stalled_at, Next})
    end.

busy_work(0) -> ok;
busy_work(N) -> _ = erlang:phash2({N, self()}), busy_work(N - 1).

cancel_runs_finally(_Config) ->
    {ok, Ref} = py:stream_start('__main__', endless, [self()]),
    receive {py_stream, Ref, {data, 10}} -> ok after 30000 -> ct:fail(no_data) end,
    ok = py:stream_cancel(Ref),
    ?assertEqual({error, <<"cancelled">>}, last_event(Ref)),
    receive {<<"finally">>, I} when is_integer(I) -> ok after 30000 -> ct:fail(finally_not_run) end,
    %% Cancelling again, or a finished stream, is harmless.
    ok = py:stream_cancel(Ref).

errors_end_the_stream(_Config) ->
    %% The values received before the error are kept.
    ?assertEqual({error, {partial, [0, 1, 2], {'ValueError', "broke after 3"}}},
                 py:stream('__main__', fails_after, [3])),
    {ok, Ref} = py:stream_start('__main__', fails_after, [2]),
    ?assertEqual([{data, 0}, {data, 1}, {error, {'ValueError', "broke after 2"}}], events(Ref)),
    ?assertMatch({error, _}, py:stream('__main__', no_such_generator, [])),
    ?assertMatch({error, _}, py:stream(no_such_module_here, f, [])),
    ?assertMatch({error, _}, py:stream('__main__', count, [not_a_number])).

another_owner(_Config) ->
    Self = self(),
    Owner = spawn_link(fun() ->
                               receive {go, Ref} -> Self ! {owner_saw, events(Ref)} end
                       end),
    {ok, Ref} = py:stream_start('__main__', count, [3], #{owner => Owner}),
    Owner ! {go, Ref},
    ?assertEqual([{data, 0}, {data, 1}, {data, 2}, done], receive {owner_saw, E} -> E after 30000 -> ct:fail(no_owner) end).

owner_death_stops_the_generator(_Config) ->
    Self = self(),
    %% The owner takes a few values, then dies: the generator is closed
    %% (its finally runs) instead of producing for no one.
    Owner = spawn(fun() -> receive {py_stream, _, {data, 3}} -> ok end end),
    {ok, _Ref} = py:stream_start('__main__', endless, [Self], #{owner => Owner}),
    receive {<<"finally">>, I} when is_integer(I) -> ok after 30000 -> ct:fail(generator_not_stopped) end.

lists_and_iterables(_Config) ->
    ?assertEqual({ok, [0, 1, 2]}, py:stream('__main__', a_list, [3])),
    ?assertEqual({ok, [<<"a">>, <<"b">>]}, py:stream(builtins, iter, [<<"ab">>])),
    ?assertEqual({ok, [{0, <<"x">>}]}, py:stream(builtins, enumerate, [[<<"x">>]])).

streams_in_an_owngil_context(_Config) ->
    case py:subinterp_supported() of
        false ->
            {skip, no_subinterpreters};
        true ->
            {ok, Ctx} = py_context:new(#{mode => owngil}),
            ok = py_context:exec(Ctx, ?PY),
            {ok, Ref} = py:stream_start('__main__', acount, [4], #{context => Ctx}),
            ?assertEqual([{data, 0}, {data, 1}, {data, 2}, {data, 3}, done], events(Ref)),
            {ok, Ref2} = py:stream_start('__main__', endless, [self()], #{context => Ctx}),
            receive {py_stream, Ref2, {data, 5}} -> ok after 30000 -> ct:fail(no_data) end,
            ok = py:stream_cancel(Ref2),
            ?assertEqual({error, <<"cancelled">>}, last_event(Ref2)),
            receive {<<"finally">>, _} -> ok after 30000 -> ct:fail(finally_not_run) end,
            py_context:stop(Ctx)
    end.

events(Ref) ->
    receive
        {py_stream, Ref, {data, V}} -> [{data, V} | events(Ref)];
        {py_stream, Ref, End} -> [End]
    after 30000 ->
        ct:fail(stream_stalled)
    end.

last_event(Ref) ->
    case events(Ref) of
        [] -> ct:fail(no_events);
        Events -> lists:last(Events)
    end.
