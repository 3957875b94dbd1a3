%% The `erlang' Python module, in worker and owngil contexts: registered
%% callbacks (every calling form, errors, nesting without replay, Python
%% threads, asyncio), messages, process types, atoms, scheduling markers.
-module(py_callback_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(PY_OWN_INIT_PER_TESTCASE, true).
-define(PY_BOTH_MODES, <<>>).
-include("py_suite.hrl").

all() ->
    [{group, worker}, {group, owngil}, nesting_through_the_default_pool,
     registry_from_erlang, erlang_is_bound_without_an_import, type_stub_covers_the_module,
     atom_budget_in_a_fresh_vm].

groups() ->
    Cases = [call_forms, only_registered_names_are_attributes, callback_errors,
             results_convert, nesting_into_the_same_context, fifty_threads_call_back,
             executor_threads_call_back, async_calls_run_concurrently,
             send_messages, send_large_and_ordered, send_to_dead_process,
             whereis_names, pids_and_refs_round_trip, atoms, schedule_markers,
             schedule_inline_chain, dead_callback_process_raises,
             interrupt_while_waiting_for_erlang, callbacks_after_the_caller_gave_up,
             callbacks_after_the_caller_died, abandoned_request_never_runs,
             module_surface],
    py_test_groups:both_modes(Cases).

init_per_testcase(_Case, Config) ->
    ok = py:register_function(add, fun([A, B]) -> A + B end),
    py_test_groups:context_for_case(Config, <<"import erlang">>).

eval(Config, Code) ->
    py_context:eval(?config(ctx, Config), Code).

exec(Config, Code) ->
    ok = py_context:exec(?config(ctx, Config), Code).

call(Config, Fun, Args) ->
    py_context:call(?config(ctx, Config), '__main__', Fun, Args).

%%% ---------------------------------------------------------------------
%%% Calling Erlang
%%% ---------------------------------------------------------------------

call_forms(Config) ->
    ok = py:register_function(<<"mul">>, ?MODULE, multiply),
    ok = py:register_function("pair", fun(A, B) -> {A, B} end),
    ?assertEqual({ok, 3}, eval(Config, <<"erlang.call('add', 1, 2)">>)),
    ?assertEqual({ok, 7}, eval(Config, <<"erlang.add(3, 4)">>)),
    exec(Config, <<"from erlang import add as imported_add">>),
    ?assertEqual({ok, 11}, eval(Config, <<"imported_add(5, 6)">>)),
    ?assertEqual({ok, 42}, eval(Config, <<"erlang.mul(6, 7)">>)),
    ?assertEqual({ok, {1, 2}}, eval(Config, <<"erlang.pair(1, 2)">>)),
    ?assertEqual({ok, 3}, eval(Config, <<"erlang.call(b'add', 1, 2)">>)),
    ok = py:unregister_function(mul),
    ?assertEqual({ok, false}, eval(Config, <<"hasattr(erlang, 'mul')">>)).

multiply([A, B]) -> A * B.

only_registered_names_are_attributes(Config) ->
    ?assertEqual({ok, false}, eval(Config, <<"hasattr(erlang, 'not_registered')">>)),
    ?assertEqual({ok, false}, eval(Config, <<"hasattr(erlang, '__wrapped__')">>)),
    ?assertEqual({ok, false}, eval(Config, <<"hasattr(erlang, '_is_registered_name')">>)),
    ?assertMatch({error, {'ImportError', _}}, py_context:exec(?config(ctx, Config),
                                                               <<"from erlang import not_registered">>)),
    ?assertMatch({error, {'ErlangError', "no Erlang function is registered as 'nope'"}},
                 eval(Config, <<"erlang.call('nope')">>)),
    ?assertMatch({error, {'TypeError', _}}, eval(Config, <<"erlang.call()">>)),
    ?assertMatch({error, {'TypeError', _}}, eval(Config, <<"erlang.call(1)">>)).

callback_errors(Config) ->
    ok = py:register_function(boom, fun(_) -> error({bad, thing}) end),
    ok = py:register_function(thrower, fun(_) -> throw(oops) end),
    ok = py:register_function(exiter, fun(_) -> exit(gone) end),
    exec(Config, <<"def catch(name):\n"
                   "    try:\n"
                   "        erlang.call(name)\n"
                   "    except erlang.ErlangError as e:\n"
                   "        return (isinstance(e, RuntimeError), e.reason, str(e))\n">>),
    {ok, {true, {<<"bad">>, <<"thing">>}, Text}} = call(Config, 'catch', [boom]),
    ?assertMatch({match, _}, re:run(Text, "Erlang callback 'boom' failed: error:")),
    ?assertMatch({ok, {true, <<"oops">>, _}}, call(Config, 'catch', [thrower])),
    ?assertMatch({ok, {true, <<"gone">>, _}}, call(Config, 'catch', [exiter])),
    %% Uncaught, the error reaches the Erlang caller as a Python exception.
    ?assertMatch({error, {'ErlangError', _}}, eval(Config, <<"erlang.boom()">>)),
    %% The context is fine afterwards.
    ?assertEqual({ok, 3}, eval(Config, <<"erlang.add(1, 2)">>)).

results_convert(Config) ->
    Self = self(),
    Ref = make_ref(),
    ok = py:register_function(echo, fun([X]) -> X end),
    ok = py:register_function(values, fun([]) -> #{<<"b">> => <<"text">>, list => [1, 2.5],
                                                  pid => Self, ref => Ref,
                                                  big => 1 bsl 100} end),
    ?assertEqual({ok, Self}, eval(Config, <<"erlang.call('values')['pid']">>)),
    ?assertEqual({ok, Ref}, eval(Config, <<"erlang.call('values')['ref']">>)),
    ?assertEqual({ok, <<"text">>}, eval(Config, <<"erlang.call('values')['b']">>)),
    ?assertEqual({ok, 1 bsl 100}, eval(Config, <<"erlang.call('values')['big']">>)),
    ?assertEqual({ok, [1, 2.5]}, eval(Config, <<"erlang.call('values')['list']">>)),
    Large = maps:from_list([{I, I * I} || I <- lists:seq(1, 300)]),
    ok = py:register_function(large, fun([]) -> Large end),
    ?assertEqual({ok, 300}, eval(Config, <<"len(erlang.large())">>)),
    %% Arguments with no Erlang form travel as handles and come back whole.
    ?assertEqual({ok, true}, eval(Config, <<"(lambda o: erlang.echo(o) is o)(object())">>)),
    %% Large maps as arguments.
    ?assertEqual({ok, 500}, eval(Config, <<"len(erlang.echo({i: i for i in range(500)}))">>)).

nesting_into_the_same_context(Config) ->
    Ctx = ?config(ctx, Config),
    exec(Config, <<"trail = []\n"
                   "def step(n):\n"
                   "    trail.append(n)\n"
                   "    if n == 0:\n"
                   "        return 0\n"
                   "    return erlang.call('down', n) + 1\n">>),
    ok = py:register_function(down, fun([N]) ->
                                            {ok, V} = py_context:call(Ctx, '__main__', step, [N - 1]),
                                            V
                                    end),
    ?assertEqual({ok, 20}, call(Config, step, [20])),
    %% Every statement ran exactly once: no replay.
    ?assertEqual({ok, lists:seq(20, 0, -1)}, eval(Config, <<"trail">>)).

nesting_through_the_default_pool(_Config) ->
    ok = py:exec(<<"import erlang\n"
                   "trail = []\n"
                   "def step(n):\n"
                   "    trail.append(n)\n"
                   "    return 0 if n == 0 else erlang.call('down_pool', n) + 1\n">>),
    ok = py:register_function(down_pool, fun([N]) ->
                                                 {ok, V} = py:call('__main__', step, [N - 1]),
                                                 V
                                         end),
    %% Deeper than the call limiter's slots: nested calls are not counted.
    ?assertEqual({ok, 25}, py:call('__main__', step, [25])),
    ?assertEqual({ok, lists:seq(25, 0, -1)}, py:eval(<<"trail">>)),
    ?assertEqual(0, py_semaphore:current()).

fifty_threads_call_back(Config) ->
    exec(Config, <<"import threading\n"
                   "def threads(n):\n"
                   "    out = [None] * n\n"
                   "    def run(i):\n"
                   "        out[i] = erlang.call('add', i, 1000)\n"
                   "    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]\n"
                   "    for t in ts: t.start()\n"
                   "    for t in ts: t.join()\n"
                   "    return out\n">>),
    ?assertEqual({ok, [I + 1000 || I <- lists:seq(0, 49)]}, call(Config, threads, [50])).

executor_threads_call_back(Config) ->
    exec(Config, <<"from concurrent.futures import ThreadPoolExecutor\n"
                   "def pooled(n):\n"
                   "    with ThreadPoolExecutor(max_workers=8) as ex:\n"
                   "        return list(ex.map(lambda i: erlang.add(i, i), range(n)))\n">>),
    ?assertEqual({ok, [2 * I || I <- lists:seq(0, 99)]}, call(Config, pooled, [100])).

async_calls_run_concurrently(Config) ->
    %% Each callback waits until all three have started: served one after
    %% another they could never finish.
    Meeting = spawn_link(fun() -> meeting(3, []) end),
    ok = py:register_function(meet, fun([I]) ->
                                            Meeting ! {arrived, self()},
                                            receive go -> I * 10 end
                                    end),
    exec(Config, <<"import asyncio\n"
                   "async def gathered():\n"
                   "    return await asyncio.gather(*(erlang.async_call('meet', i) for i in range(3)))\n"
                   "def run_gathered():\n"
                   "    return asyncio.run(gathered())\n"
                   "async def failing():\n"
                   "    try:\n"
                   "        await erlang.async_call('nope')\n"
                   "    except erlang.ErlangError as e:\n"
                   "        return str(e)\n"
                   "def run_failing():\n"
                   "    return asyncio.run(failing())\n">>),
    ?assertEqual({ok, [0, 10, 20]}, call(Config, run_gathered, [])),
    ?assertMatch({ok, <<"no Erlang function is registered as 'nope'">>}, call(Config, run_failing, [])).

meeting(0, Waiting) ->
    [P ! go || P <- Waiting];
meeting(N, Waiting) ->
    receive {arrived, P} -> meeting(N - 1, [P | Waiting]) end.

%%% ---------------------------------------------------------------------
%%% Messages and process types
%%% ---------------------------------------------------------------------

send_messages(Config) ->
    Self = self(),
    %% Atoms arrive in Python as str (and so leave as binaries).
    ?assertEqual({ok, none}, py_context:call(?config(ctx, Config), erlang, send, [Self, hello])),
    ?assertEqual(<<"hello">>, next_message()),
    exec(Config, <<"def send_all(pid):\n"
                   "    erlang.send(pid, ('tuple', 1, [2.5, None, True], {'k': b'v'}))\n"
                   "    erlang.send(pid, erlang.atom('an_atom'))\n"
                   "    return erlang.reply(pid, 'replied')\n">>),
    ?assertEqual({ok, true}, call(Config, send_all, [Self])),
    ?assertEqual({<<"tuple">>, 1, [2.5, none, true], #{<<"k">> => <<"v">>}}, next_message()),
    ?assertEqual(an_atom, next_message()),
    ?assertEqual(<<"replied">>, next_message()),
    ?assertMatch({error, {'TypeError', _}}, eval(Config, <<"erlang.send('not a pid', 1)">>)).

send_large_and_ordered(Config) ->
    Self = self(),
    exec(Config, <<"def mixed(pid):\n"
                   "    erlang.send(pid, 1)\n"
                   "    erlang.send(pid, {i: i for i in range(100)})\n"
                   "    erlang.send(pid, 2)\n">>),
    {ok, none} = call(Config, mixed, [Self]),
    ?assertEqual(1, next_message()),
    ?assertEqual(maps:from_list([{I, I} || I <- lists:seq(0, 99)]), next_message()),
    ?assertEqual(2, next_message()).

send_to_dead_process(Config) ->
    {Pid, MRef} = spawn_monitor(fun() -> ok end),
    receive {'DOWN', MRef, process, Pid, _} -> ok end,
    exec(Config, <<"def to_dead(pid):\n"
                   "    try:\n"
                   "        erlang.send(pid, 'hello')\n"
                   "    except erlang.ProcessError:\n"
                   "        return 'process_error'\n"
                   "    return 'sent'\n">>),
    ?assertEqual({ok, <<"process_error">>}, call(Config, to_dead, [Pid])),
    ?assertMatch({error, {'ProcessError', _}}, py_context:call(?config(ctx, Config), erlang, send, [Pid, 1])),
    ?assertMatch({error, {'ProcessError', _}},
                 py_context:eval(?config(ctx, Config), <<"erlang.send(p, {i: i for i in range(50)})">>,
                                 #{p => Pid})).

whereis_names(Config) ->
    Self = self(),
    true = register(py_callback_suite_proc, Self),
    try
        ?assertEqual({ok, Self}, eval(Config, <<"erlang.whereis('py_callback_suite_proc')">>)),
        ?assertEqual({ok, Self}, eval(Config, <<"erlang.whereis(erlang.atom('py_callback_suite_proc'))">>)),
        ?assertEqual({ok, Self}, eval(Config, <<"erlang.whereis(b'py_callback_suite_proc')">>)),
        ?assertEqual({ok, none}, eval(Config, <<"erlang.whereis('no_such_registered_name_xyz')">>)),
        ?assertEqual({ok, Self}, eval(Config, <<"erlang.call('_whereis', 'py_callback_suite_proc')">>))
    after
        unregister(py_callback_suite_proc)
    end.

pids_and_refs_round_trip(Config) ->
    Self = self(),
    Ref = make_ref(),
    {ok, {true, true, true, true}} =
        py_context:eval(?config(ctx, Config),
                        <<"(isinstance(p, erlang.Pid), isinstance(r, erlang.Ref), "
                          "p == p2, len({p, p2}) == 1)">>,
                        #{p => Self, p2 => Self, r => Ref}),
    ?assertEqual({ok, {Self, Ref}}, py_context:eval(?config(ctx, Config), <<"(p, r)">>, #{p => Self, r => Ref})),
    ?assertMatch({error, {'TypeError', _}}, eval(Config, <<"erlang.Pid()">>)).

atoms(Config) ->
    ?assertEqual({ok, {true, true}}, eval(Config, <<"(isinstance(erlang.atom('ok'), erlang.Atom), erlang.atom('ok') == 'ok')">>)),
    ?assertEqual({ok, some_existing_atom}, eval(Config, <<"erlang.atom('some_existing_atom')">>)),
    ?assertEqual({ok, 'ünïcode'}, eval(Config, <<"erlang.atom('ünïcode')"/utf8>>)),
    ?assertMatch({error, {'ValueError', _}}, eval(Config, <<"erlang.atom('x' * 256)">>)),
    ?assertMatch({error, {'TypeError', _}}, eval(Config, <<"erlang.atom(12)">>)).

%%% ---------------------------------------------------------------------
%%% Scheduling
%%% ---------------------------------------------------------------------

schedule_markers(Config) ->
    exec(Config, <<"def later(a, b):\n"
                   "    return erlang.schedule('add', a, b)\n"
                   "def later_py(a, b):\n"
                   "    return erlang.schedule_py('operator', 'mul', [a, b])\n"
                   "def slice_used():\n"
                   "    return erlang.consume_time_slice(50)\n">>),
    ?assertEqual({ok, 30}, call(Config, later, [10, 20])),
    ?assertEqual({ok, 42}, call(Config, later_py, [6, 7])),
    ?assertEqual({ok, false}, call(Config, slice_used, [])),
    ?assertMatch({ok, {<<"ScheduleMarker">>, _}},
                 eval(Config, <<"(type(erlang.schedule('add', 1)).__name__, 0)">>)),
    %% A marker for an unknown callback is an error, not a hang.
    exec(Config, <<"def later_unknown():\n    return erlang.schedule('nope')\n">>),
    ?assertMatch({error, {callback_not_found, <<"nope">>}}, call(Config, later_unknown, [])).

schedule_inline_chain(Config) ->
    exec(Config, <<"steps = []\n"
                   "def countdown(n):\n"
                   "    steps.append(n)\n"
                   "    if n == 0:\n"
                   "        return 'done'\n"
                   "    return erlang.schedule_inline('__main__', 'countdown', args=[n - 1])\n"
                   "def kw(a, b=0):\n"
                   "    return a + b\n"
                   "def inline_kw():\n"
                   "    return erlang.schedule_inline('__main__', 'kw', [1], {'b': 2})\n">>),
    ?assertEqual({ok, <<"done">>}, call(Config, countdown, [100])),
    ?assertEqual({ok, 101}, eval(Config, <<"len(steps)">>)),
    ?assertEqual({ok, 3}, call(Config, inline_kw, [])).

%%% ---------------------------------------------------------------------
%%% Failure
%%% ---------------------------------------------------------------------

dead_callback_process_raises(Config) ->
    Ctx = ?config(ctx, Config),
    Self = self(),
    ok = py:register_function(die, fun(_) -> exit(self(), kill) end),
    exec(Config, <<"def call_die(pid):\n"
                   "    try:\n"
                   "        erlang.call('die')\n"
                   "    except erlang.ErlangError as e:\n"
                   "        erlang.send(pid, str(e))\n">>),
    %% With a timeout the callback runs in a helper process, which dies
    %% doing it; the waiting Python code gets an exception instead of
    %% waiting forever, and the caller lives on.
    ?assertEqual({ok, none}, py_context:call(Ctx, '__main__', call_die, [Self], #{}, 10000)),
    ?assertEqual(<<"the Erlang process running callback 'die' exited without replying">>, next_message()),
    ?assertEqual({ok, 3}, eval(Config, <<"erlang.add(1, 2)">>)).

interrupt_while_waiting_for_erlang(Config) ->
    Ctx = ?config(ctx, Config),
    Self = self(),
    ok = py:register_function(hang, fun(_) -> Self ! {hanging, self()}, receive never -> ok end end),
    %% py:spawn_call resolves '__main__' in the caller's namespace.
    {ok, Env} = py_context:local_env(Ctx),
    ok = py_context:exec(Ctx, <<"def waits():\n"
                                "    try:\n"
                                "        erlang.call('hang')\n"
                                "    except KeyboardInterrupt:\n"
                                "        return 'interrupted'\n">>, Env),
    %% spawn_call callbacks are served by py_callback, so this process stays
    %% free to interrupt.
    Ref = py:spawn_call(Ctx, '__main__', waits, []),
    Handler = receive {hanging, P} -> P after 10000 -> ct:fail({not_hanging, py:await(Ref, 0)}) end,
    ok = py:interrupt(Ctx),
    ?assertEqual({ok, <<"interrupted">>}, py:await(Ref, 10000)),
    exit(Handler, kill),
    ?assertEqual({ok, 3}, eval(Config, <<"erlang.add(1, 2)">>)).

callbacks_after_the_caller_gave_up(Config) ->
    Ctx = ?config(ctx, Config),
    Self = self(),
    ok = py:register_function(note, fun([X]) -> Self ! {noted, X}, ok end),
    exec(Config, <<"import time\n"
                   "def stubborn():\n"
                   "    try:\n"
                   "        while True:\n"
                   "            time.sleep(0.01)\n"
                   "    except KeyboardInterrupt:\n"
                   "        erlang.call('note', 'after timeout')\n"
                   "        return 'finished'\n">>),
    ?assertEqual({error, timeout}, py_context:call(Ctx, '__main__', stubborn, [], #{}, 100)),
    %% The callback made after the timeout was served by py_callback.
    receive {noted, What} -> ?assertEqual(<<"after timeout">>, What) end,
    ?assertEqual({ok, 3}, eval(Config, <<"erlang.add(1, 2)">>)),
    %% No stray message was left behind.
    receive Stray -> ct:fail({stray, Stray}) after 0 -> ok end.

callbacks_after_the_caller_died(Config) ->
    Ctx = ?config(ctx, Config),
    Self = self(),
    ok = py:register_function(quit_caller, fun(_) -> exit(self(), kill) end),
    exec(Config, <<"import time\n"
                   "def two(pid):\n"
                   "    try:\n"
                   "        try:\n"
                   "            erlang.call('quit_caller')\n"
                   "        except erlang.ErlangError:\n"
                   "            pass\n"
                   "        while True:\n"
                   "            time.sleep(0.005)\n"
                   "    except KeyboardInterrupt:\n"
                   "        erlang.send(pid, 'interrupted')\n">>),
    %% No timeout: the callback runs in the caller, and kills it. Nobody
    %% will read the result, so the request is interrupted (without that it
    %% would hold the context for ever).
    {Caller, MRef} = spawn_monitor(fun() -> py_context:call(Ctx, '__main__', two, [Self]) end),
    receive {'DOWN', MRef, process, Caller, killed} -> ok end,
    ?assertEqual(<<"interrupted">>, next_message()),
    ?assertEqual({ok, 3}, eval(Config, <<"erlang.add(1, 2)">>)).

abandoned_request_never_runs(Config) ->
    Ctx = ?config(ctx, Config),
    Self = self(),
    exec(Config, <<"import time\n"
                   "marks = []\n"
                   "def busy(pid):\n"
                   "    erlang.send(pid, 'busy')\n"
                   "    try:\n"
                   "        while True:\n"
                   "            time.sleep(0.005)\n"
                   "    except KeyboardInterrupt:\n"
                   "        return 'stopped'\n"
                   "def mark():\n"
                   "    marks.append(1)\n">>),
    %% py:spawn_call resolves '__main__' in the caller's namespace.
    {ok, Env} = py_context:local_env(Ctx),
    ok = py_context:exec(Ctx, <<"import time\n"
                                "def busy(pid):\n"
                                "    erlang.send(pid, 'busy')\n"
                                "    try:\n"
                                "        while True:\n"
                                "            time.sleep(0.005)\n"
                                "    except KeyboardInterrupt:\n"
                                "        return 'stopped'\n">>, Env),
    Busy = py:spawn_call(Ctx, '__main__', busy, [Self]),
    receive <<"busy">> -> ok after 10000 -> ct:fail({not_busy, py:await(Busy, 0)}) end,
    %% Queued behind `busy', this request times out before it starts...
    ?assertEqual({error, timeout}, py_context:call(Ctx, '__main__', mark, [], #{}, 50)),
    ok = py:interrupt(Ctx),
    ?assertEqual({ok, <<"stopped">>}, py:await(Busy, 10000)),
    %% ...and so never runs.
    ?assertEqual({ok, []}, eval(Config, <<"marks">>)).

module_surface(Config) ->
    {ok, Names} = eval(Config, <<"sorted(n for n in ['call', 'send', 'whereis', 'atom', 'Atom', 'Pid', 'Ref', "
                                 "'ProcessError', 'ErlangError', 'SuspensionRequired', 'async_call', "
                                 "'schedule', 'schedule_py', 'schedule_inline', 'consume_time_slice', "
                                 "'ScheduleMarker', 'InlineScheduleMarker', 'reply', 'state_get', "
                                 "'state_set', 'state_delete', 'state_keys', 'state_clear', 'state_incr', "
                                 "'state_decr', 'ErlangHandler', 'setup_logging', 'Span', 'trace'] "
                                 "if not hasattr(erlang, n))">>),
    ?assertEqual([], Names),
    ?assertEqual({ok, true}, eval(Config, <<"issubclass(erlang.SuspensionRequired, BaseException) and "
                                            "not issubclass(erlang.SuspensionRequired, Exception)">>)).

%%% ---------------------------------------------------------------------
%%% Outside the groups
%%% ---------------------------------------------------------------------

registry_from_erlang(_Config) ->
    ok = py:register_function(reg_a, fun([X]) -> X end),
    ?assertMatch({ok, _}, py_callback:lookup(reg_a)),
    ?assertMatch({ok, _}, py_callback:lookup(<<"reg_a">>)),
    ?assert(lists:member(<<"reg_a">>, py_callback:registered())),
    ?assertEqual({ok, 5}, py_callback:execute(reg_a, [5])),
    ?assertMatch({error, {error, function_clause, _}}, py_callback:execute(<<"reg_a">>, [])),
    ok = py:unregister_function(reg_a),
    ?assertEqual({error, not_found}, py_callback:lookup(reg_a)),
    ?assertEqual({error, {not_found, <<"reg_a">>}}, py_callback:execute(reg_a, [1])).

erlang_is_bound_without_an_import(_Config) ->
    ?assertEqual({ok, 5}, py:eval(<<"erlang.add(2, 3)">>)),
    {ok, Ctx} = py_context:new(#{mode => worker}),
    ?assertEqual({ok, 5}, py_context:eval(Ctx, <<"erlang.call('add', 2, 3)">>)),
    py_context:stop(Ctx).

%% priv/erlang.pyi names every public name of the module.
type_stub_covers_the_module(_Config) ->
    Stub = filename:join(code:priv_dir(erlang_python), "erlang.pyi"),
    {ok, Source} = file:read_file(Stub),
    {ok, Missing} = py:eval(<<"sorted(set(erlang.__all__) - {n.name if hasattr(n, 'name') else n.targets[0].id "
                              "for n in __import__('ast').parse(src).body "
                              "if isinstance(n, (__import__('ast').FunctionDef, __import__('ast').AsyncFunctionDef, "
                              "__import__('ast').ClassDef))})">>, #{src => Source}),
    ?assertEqual([], Missing).

%% The atom budget is per VM, so this runs in a VM of its own.
atom_budget_in_a_fresh_vm(_Config) ->
    {ok, Peer, _} = peer:start_link(#{connection => standard_io,
                                      args => ["-pa" | code:get_path()]}),
    try
        {Made, Message, Existing, Created} = peer:call(Peer, ?MODULE, make_atoms_until_refused, [], 120000),
        ?assertEqual(10000, Made),
        ?assertMatch({match, _}, re:run(Message, "ERLANG_PYTHON_MAX_ATOMS")),
        %% Existing atoms stay free once the budget is spent.
        ?assertEqual({{ok, ok}, {ok, <<"py_budget_5">>}}, Existing),
        ?assert(Created < 10100)
    after
        peer:stop(Peer)
    end.

make_atoms_until_refused() ->
    {ok, _} = application:ensure_all_started(erlang_python),
    Before = erlang:system_info(atom_count),
    ok = py:exec(<<"import erlang\n"
                   "def make(n):\n"
                   "    made = 0\n"
                   "    try:\n"
                   "        for i in range(n):\n"
                   "            erlang.atom(f'py_budget_{i}')\n"
                   "            made += 1\n"
                   "    except RuntimeError as e:\n"
                   "        return (made, str(e))\n"
                   "    return (made, None)\n">>),
    {ok, {Made, Message}} = py:call('__main__', make, [20000]),
    {ok, Fifth} = py:eval(<<"erlang.atom('py_budget_5')">>),
    Existing = {py:eval(<<"erlang.atom('ok')">>), {ok, atom_to_binary(Fifth)}},
    {Made, Message, Existing, erlang:system_info(atom_count) - Before}.

next_message() ->
    receive M -> M after 5000 -> ct:fail(no_message) end.
