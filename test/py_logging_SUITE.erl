%% Python logging into the Erlang logger, and tracing spans, in worker and
%% owngil contexts.
-module(py_logging_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).
-export([log/2]).

-define(PY_OWN_INIT_PER_TESTCASE, true).
-define(PY_OWN_END_PER_TESTCASE, true).
-define(PY_BOTH_MODES, <<>>).
-include("py_suite.hrl").

all() ->
    [configure_logging_default_pool, {group, worker}, {group, owngil}].

groups() ->
    Cases = [records_reach_the_logger, levels_filter_before_sending, log_from_a_thread,
             spans_with_parents_events_and_errors, traced_decorator, tracing_off_records_nothing],
    py_test_groups:both_modes(Cases).

init_per_testcase(_Case, Config) ->
    #{level := Primary} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, all),
    ok = logger:add_handler(py_logging_suite, ?MODULE,
                            #{config => #{pid => self()},
                              filter_default => stop,
                              filters => [{python, {fun logger_filters:domain/2, {log, sub, [python]}}}]}),
    ok = py_logger:set_level(debug),
    ok = py:clear_traces(),
    py_test_groups:context_for_case([{primary_level, Primary} | Config], <<"import erlang, logging">>).

end_per_testcase(_Case, Config) ->
    ok = logger:remove_handler(py_logging_suite),
    ok = logger:set_primary_config(level, ?config(primary_level, Config)),
    ok = py:disable_tracing(),
    py_test_groups:stop_case_context(Config).

%% logger handler callback: forwards Python events to the test process.
log(#{level := Level, msg := Msg, meta := Meta}, #{config := #{pid := Pid}}) ->
    Text = case Msg of
               {Format, Args} when is_list(Format) -> iolist_to_binary(io_lib:format(Format, Args));
               {string, S} -> iolist_to_binary(S);
               Other -> iolist_to_binary(io_lib:format("~p", [Other]))
           end,
    Pid ! {logged, Level, Text, Meta}.

next_log() ->
    receive {logged, Level, Text, Meta} -> {Level, Text, Meta}
    after 5000 -> ct:fail(no_log_record)
    end.

exec(Config, Code) ->
    ok = py_context:exec(?config(ctx, Config), Code).

configure_logging_default_pool(_Config) ->
    ok = py:configure_logging(#{level => info, format => "%(levelname)s:%(message)s"}),
    ok = py:exec(<<"import logging\n"
                   "logging.getLogger('pool').debug('not this one')\n"
                   "logging.getLogger('pool').info('hello %s', 'pool')\n">>),
    {info, Text, Meta} = next_log(),
    ?assertEqual(<<"INFO:hello pool">>, Text),
    ?assertMatch(#{domain := [python], py_logger := <<"pool">>}, Meta),
    ok = py:configure_logging().

records_reach_the_logger(Config) ->
    exec(Config, <<"erlang.setup_logging(10)\n"
                   "def emit():\n"
                   "    logging.getLogger('app.part').warning('hello %s', 'world')\n">>),
    {ok, _} = py_context:call(?config(ctx, Config), '__main__', emit, []),
    {warning, Text, Meta} = next_log(),
    ?assertEqual(<<"hello world">>, Text),
    #{domain := [python], py_logger := <<"app.part">>, py_meta := PyMeta} = Meta,
    ?assertMatch(#{<<"funcName">> := <<"emit">>, <<"lineno">> := 3}, PyMeta),
    ?assert(maps:is_key(<<"module">>, PyMeta)),
    exec(Config, <<"logging.getLogger('x').error('bad')\nlogging.getLogger('x').critical('worse')">>),
    ?assertMatch({error, <<"bad">>, _}, next_log()),
    ?assertMatch({critical, <<"worse">>, _}, next_log()).

levels_filter_before_sending(Config) ->
    exec(Config, <<"erlang.setup_logging(10)">>),
    ok = py_logger:set_level(warning),
    ?assertEqual({ok, 30}, py_context:eval(?config(ctx, Config), <<"erlang._log_level()">>)),
    exec(Config, <<"logging.getLogger('f').info('dropped')\nlogging.getLogger('f').warning('kept')">>),
    %% The info record never left Python: the first one here is the warning.
    ?assertMatch({warning, <<"kept">>, _}, next_log()).

log_from_a_thread(Config) ->
    exec(Config, <<"import threading\n"
                   "erlang.setup_logging(10)\n"
                   "t = threading.Thread(target=lambda: logging.getLogger('t').info('from thread'), name='worker-7')\n"
                   "t.start(); t.join()\n">>),
    {info, <<"from thread">>, #{py_meta := #{<<"thread">> := <<"worker-7">>}}} = next_log().

spans_with_parents_events_and_errors(Config) ->
    ok = py:enable_tracing(),
    exec(Config, <<"with erlang.Span('outer', user='ann') as outer:\n"
                   "    outer.event('checkpoint', step=1)\n"
                   "    with erlang.Span('inner'):\n"
                   "        pass\n"
                   "try:\n"
                   "    with erlang.Span('failing'):\n"
                   "        raise ValueError('nope')\n"
                   "except ValueError:\n"
                   "    pass\n">>),
    {ok, [Inner, Outer, Failing]} = py:get_traces(),
    #{name := <<"inner">>, parent_id := OuterId, status := ok} = Inner,
    #{name := <<"outer">>, span_id := OuterId, parent_id := undefined, status := ok,
      attributes := #{<<"user">> := <<"ann">>},
      events := [#{name := <<"checkpoint">>, attrs := #{<<"step">> := 1}}]} = Outer,
    #{name := <<"failing">>, status := error, end_attrs := #{<<"exception">> := Exc}} = Failing,
    ?assertEqual(<<"ValueError: nope">>, Exc),
    [?assert(D >= 0) || #{duration_us := D} <- [Inner, Outer, Failing]],
    ok = py:clear_traces(),
    ?assertEqual({ok, []}, py:get_traces()).

traced_decorator(Config) ->
    ok = py:enable_tracing(),
    exec(Config, <<"@erlang.trace\n"
                   "def plain(x):\n"
                   "    return x + 1\n"
                   "@erlang.trace('named')\n"
                   "def named(x):\n"
                   "    return plain(x)\n">>),
    ?assertEqual({ok, 3}, py_context:call(?config(ctx, Config), '__main__', named, [2])),
    {ok, [#{name := <<"plain">>, parent_id := Parent}, #{name := <<"named">>, span_id := Parent}]} =
        py:get_traces().

tracing_off_records_nothing(Config) ->
    exec(Config, <<"with erlang.Span('unseen'):\n    pass">>),
    ok = py:enable_tracing(),
    exec(Config, <<"with erlang.Span('seen'):\n    pass">>),
    ?assertMatch({ok, [#{name := <<"seen">>}]}, py:get_traces()).
