%% The first calls from Erlang: py:call/eval/exec in their shapes, errors,
%% timeouts that interrupt, explicit contexts and the interpreter set-up.
-module(py_api_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0]).
-export([call_basic/1, call_name_forms/1, call_kwargs/1, call_shapes/1, eval_forms/1, exec_then_call/1, python_errors/1, bad_arguments/1, c_extensions_import/1, sys_executable/1, no_python_signal_handlers/1, version_and_mode/1, timeout_interrupts/1, explicit_interrupt/1, explicit_context/1, owngil_context/1, context_death/1, dead_pool_context_is_replaced/1, concurrent_callers/1, large_arguments/1, large_arguments_concurrently/1, tracebacks/1, log/2]).

-include("py_suite.hrl").

all() ->
    [call_basic, call_name_forms, call_kwargs, call_shapes, eval_forms,
     exec_then_call, python_errors, bad_arguments, c_extensions_import,
     sys_executable, no_python_signal_handlers, version_and_mode,
     timeout_interrupts, explicit_interrupt, explicit_context, owngil_context,
     context_death, dead_pool_context_is_replaced, concurrent_callers,
     large_arguments, large_arguments_concurrently, tracebacks].

call_basic(_) ->
    ?assertEqual({ok, 1.4142135623730951}, py:call(math, sqrt, [2.0])),
    ?assertEqual({ok, 6}, py:call(builtins, sum, [[1, 2, 3]])),
    ?assertEqual({ok, <<"[1, 2, 3]">>}, py:call(json, dumps, [[1, 2, 3]])).

call_name_forms(_) ->
    [?assertEqual({ok, 2.0}, py:call(M, F, [4.0])) ||
        M <- [math, <<"math">>, "math"], F <- [sqrt, <<"sqrt">>, "sqrt"]],
    ?assertEqual({ok, <<"a/b">>}, py:call(os, 'path.join', [<<"a">>, <<"b">>])).

call_kwargs(_) ->
    ?assertEqual({ok, <<"{\"a\": 1}">>}, py:call(json, dumps, [#{a => 1}], #{sort_keys => true})),
    ?assertEqual({ok, <<"1|2">>}, py:eval(<<"(lambda *a, **k: k['sep'].join(map(str, a)))(1, 2, sep='|')">>)),
    ?assertEqual({ok, <<"1|2">>}, py:call(builtins, 'str.join', [<<"|">>, [<<"1">>, <<"2">>]])),
    ?assertEqual({ok, 16}, py:call(builtins, int, [<<"10">>], #{<<"base">> => 16})).

call_shapes(_) ->
    Ctx = py:context(),
    ?assertEqual({ok, 3.0}, py:call(Ctx, math, sqrt, [9.0])),
    ?assertEqual({ok, 3.0}, py:call(Ctx, math, sqrt, [9.0], #{timeout => 5000})),
    ?assertEqual({ok, 16}, py:call(Ctx, builtins, int, [<<"10">>], #{kwargs => #{base => 16}})),
    ?assertEqual({ok, 3.0}, py:call(default, math, sqrt, [9.0])),
    ?assertEqual({ok, 16}, py:call(default, builtins, int, [<<"10">>], #{base => 16})),
    ?assertEqual({ok, 16}, py:call(builtins, int, [<<"10">>], #{base => 16}, 5000)).

eval_forms(_) ->
    ?assertEqual({ok, 2}, py:eval(<<"1+1">>)),
    ?assertEqual({ok, 2}, py:eval("1+1")),
    ?assertEqual({ok, 7}, py:eval(<<"x * 2 + y">>, #{x => 3, y => 1})),
    ?assertEqual({ok, [0, 10, 20]}, py:eval(<<"[i * y for i in range(3)]">>, #{y => 10})),
    ?assertEqual({ok, 7}, py:eval(<<"x + y">>, #{x => 3, y => 4}, 5000)),
    Ctx = py:context(),
    ?assertEqual({ok, 4}, py:eval(Ctx, <<"2+2">>)),
    ?assertEqual({ok, 5}, py:eval(Ctx, <<"a+2">>, #{a => 3})),
    %% Locals do not leak into the namespace.
    ?assertMatch({error, {'NameError', _}}, py:eval(<<"y">>)).

exec_then_call(_) ->
    ok = py:exec(<<"def triple(x):\n    return 3 * x\ncounter = 1\n">>),
    ?assertEqual({ok, 9}, py:call('__main__', triple, [3])),
    ?assertEqual({ok, 9}, py:call(<<"__main__">>, <<"triple">>, [3])),
    ?assertEqual({ok, 1}, py:eval(<<"counter">>)),
    ok = py:exec(<<"counter += 1">>),
    ?assertEqual({ok, 2}, py:eval(<<"counter">>)),
    ok = py:exec(py:context(), <<"counter = 10">>),
    ?assertEqual({ok, 10}, py:eval(<<"counter">>)).

python_errors(_) ->
    ?assertEqual({error, {'ZeroDivisionError', "division by zero"}}, py:eval(<<"1/0">>)),
    ?assertMatch({error, {'ModuleNotFoundError', "No module named 'no_such_mod'"}},
                 py:call(no_such_mod, f, [])),
    ?assertMatch({error, {'AttributeError', _}}, py:call(math, no_such_fun, [])),
    ?assertMatch({error, {'SyntaxError', _}}, py:eval(<<"1 +">>)),
    ?assertMatch({error, {'SyntaxError', _}}, py:exec(<<"def (">>)),
    ?assertMatch({error, {'TypeError', _}}, py:call(math, sqrt, [<<"x">>])),
    ?assertMatch({error, {'ValueError', "source code string cannot contain null bytes"}},
                 py:eval(<<"1", 0, "2">>)),
    ?assertEqual({error, {stop_iteration, none}}, py:eval(<<"next(iter([]))">>)),
    ?assertMatch({error, {'NameError', _}}, py:call('__main__', undefined_function, [])),
    ?assertMatch({error, {'ValueError', "boom é" ++ _}}, py:eval(<<"(_ for _ in ()).throw(ValueError('boom é'))"/utf8>>)),
    %% Everything still works.
    ?assertEqual({ok, 2}, py:eval(<<"1+1">>)).

bad_arguments(_) ->
    ?assertEqual({error, {bad_argument, args}}, py:call(py:context(), math, sqrt, not_a_list)),
    ?assertEqual({error, {bad_argument, module}}, py:call(py:context(), {m}, sqrt, [])),
    ?assertEqual({error, {bad_argument, kwargs}}, py:call(py:context(), math, sqrt, [1], #{kwargs => [x]})),
    ?assertEqual({error, {bad_argument, code}}, py:eval(py:context(), 42)),
    ?assertEqual({error, {invalid_context, nope}}, py_context:call(nope, math, sqrt, [1.0])),
    ?assertEqual({ok, 2}, py:eval(<<"1+1">>)).

c_extensions_import(_) ->
    %% libpython's symbols are global, so C extension modules load.
    ?assertEqual({ok, 3}, py:call(math, floor, [3.7])),
    ?assertEqual({ok, <<"\"{}\"">>}, py:call('_json', encode_basestring_ascii, [<<"{}">>])),
    ?assertEqual({ok, <<"1.1">>}, py:eval(<<"str(__import__('decimal').Decimal('1.1'))">>)),
    ?assertEqual({ok, 32}, py:eval(<<"len(__import__('hashlib').sha256(b'x').digest())">>)).

sys_executable(_) ->
    {ok, Exe} = py:eval(<<"__import__('sys').executable">>),
    ?assertMatch(<<"/", _/binary>>, Exe),
    ?assert(filelib:is_regular(binary_to_list(Exe))),
    {ok, Version} = py:eval(<<"'%d.%d' % __import__('sys').version_info[:2]">>),
    ?assertNotEqual(nomatch, binary:match(Exe, <<"python">>)),
    ?assert(is_binary(Version)).

no_python_signal_handlers(_) ->
    %% Python must not take SIGINT (or any signal) from the VM.
    ?assertEqual({ok, true}, py:eval(<<"__import__('signal').getsignal(2) is not __import__('signal').default_int_handler">>)).

version_and_mode(_) ->
    {ok, V} = py:version(),
    ?assertMatch(<<"3.", _/binary>>, V),
    ?assert(lists:member(py:execution_mode(), [worker, owngil, free_threaded])),
    ?assert(is_boolean(py:subinterp_supported())).

timeout_interrupts(_) ->
    T0 = erlang:monotonic_time(millisecond),
    ?assertEqual({error, timeout}, py:eval(<<"[0 for _ in iter(int, 1)]">>, #{}, 300)),
    ?assert(erlang:monotonic_time(millisecond) - T0 < 10000),
    %% The interrupted code stopped and the context is usable.
    ?assertEqual({ok, 2}, py:eval(<<"1+1">>)),
    ?assertEqual({error, timeout},
                 py:call(builtins, exec, [<<"while True: pass">>], #{}, 200)),
    ?assertEqual({ok, 3}, py:eval(<<"1+2">>)).

explicit_interrupt(_) ->
    {ok, Ctx} = py_context:new(#{}),
    Self = self(),
    spawn_link(fun() -> Self ! {result, py_context:eval(Ctx, <<"[0 for _ in iter(int, 1)]">>)} end),
    wait_busy(Ctx, 200),
    ?assertEqual(ok, py:interrupt(Ctx)),
    receive {result, R} -> ?assertEqual({error, interrupted}, R)
    after 10000 -> ct:fail(no_interrupt)
    end,
    ?assertEqual(not_running, py:interrupt(Ctx)),
    ?assertEqual({ok, 1}, py_context:eval(Ctx, <<"1">>)),
    ok = py_context:stop(Ctx).

%% Waits until the context is running a task.
wait_busy(Ctx, 0) -> ct:fail({never_busy, Ctx});
wait_busy(Ctx, N) ->
    case py_context:info(Ctx) of
        {ok, #{busy := true}} -> ok;
        _ -> receive after 10 -> wait_busy(Ctx, N - 1) end
    end.

explicit_context(_) ->
    {ok, Ctx} = py_context:new(#{mode => worker}),
    ?assertMatch({ok, #{interp_id := 0}}, py_context:info(Ctx)),
    ?assertNot(py_context:is_subinterp(Ctx)),
    ?assertEqual({ok, 5}, py_context:call(Ctx, operator, add, [2, 3])),
    ?assertEqual({ok, 5}, py_context:call(Ctx, operator, add, [2, 3], #{})),
    ?assertEqual({ok, 5}, py_context:eval(Ctx, <<"a + b">>, #{a => 2, b => 3})),
    ok = py_context:exec(Ctx, <<"z = 1">>),
    ?assertEqual({ok, 1}, py_context:eval(Ctx, <<"z">>)),
    %% Each context has its own namespace.
    ?assertMatch({error, {'NameError', _}}, py:eval(<<"z">>)),
    %% Every call on a context runs on the same OS thread.
    {ok, #{thread_id := Tid}} = py_context:info(Ctx),
    [?assertEqual({ok, Tid}, py_context:eval(Ctx, <<"__import__('threading').get_native_id()">>))
     || _ <- lists:seq(1, 20)],
    ok = py_context:stop(Ctx),
    ?assertMatch({error, {context_died, _}}, py_context:eval(Ctx, <<"1">>)),
    ?assertEqual({error, {invalid_mode, bogus}}, py_context:new(#{mode => bogus})).

owngil_context(_) ->
    case py:subinterp_supported() of
        false -> {skip, no_subinterpreters};
        true ->
            {ok, A} = py_context:new(#{mode => owngil}),
            {ok, B} = py_context:new(#{mode => owngil}),
            ?assert(py_context:is_subinterp(A)),
            {ok, IdA} = py_context:get_interp_id(A),
            {ok, IdB} = py_context:get_interp_id(B),
            ?assertNotEqual(IdA, IdB),
            ok = py_context:exec(A, <<"import sys; sys.owngil_marker = 'a'">>),
            ?assertEqual({ok, <<"a">>}, py_context:eval(A, <<"getattr(__import__('sys'), 'owngil_marker', None)">>)),
            ?assertEqual({ok, none}, py_context:eval(B, <<"getattr(__import__('sys'), 'owngil_marker', None)">>)),
            ?assertEqual({ok, none}, py:eval(<<"getattr(__import__('sys'), 'owngil_marker', None)">>)),
            Self = self(),
            ?assertEqual({ok, Self}, py_context:call(A, builtins, max, [[Self]])),
            ?assertEqual({ok, 1 bsl 100}, py_context:eval(B, <<"2**100">>)),
            ok = py_context:stop(A),
            ok = py_context:stop(B)
    end.

context_death(_) ->
    process_flag(trap_exit, true),
    {ok, Ctx} = py_context:new(#{}),
    Self = self(),
    spawn_link(fun() -> Self ! {result, py_context:eval(Ctx, <<"[0 for _ in iter(int, 1)]">>)} end),
    wait_busy(Ctx, 200),
    exit(Ctx, kill),
    receive {result, R} -> ?assertEqual({error, {context_died, killed}}, R)
    after 10000 -> ct:fail(no_context_died)
    end,
    ?assertEqual({ok, 2}, py:eval(<<"1+1">>)).

dead_pool_context_is_replaced(_) ->
    N = py_context_router:num_contexts(),
    Before = py_context_router:contexts(),
    [Victim | _] = Before,
    MRef = erlang:monitor(process, Victim),
    exit(Victim, kill),
    receive {'DOWN', MRef, _, _, _} -> ok end,
    wait_replaced(Victim, 200),
    ?assertEqual(N, py_context_router:num_contexts()),
    %% A caller bound to the dead context is moved to a live one.
    py_context_router:bind_context(Victim),
    ?assertEqual({ok, 2}, py:eval(<<"1+1">>)),
    py_context_router:unbind_context().

wait_replaced(_Victim, 0) -> ct:fail(not_replaced);
wait_replaced(Victim, N) ->
    case lists:member(Victim, py_context_router:contexts()) of
        false -> ok;
        true -> receive after 10 -> wait_replaced(Victim, N - 1) end
    end.

concurrent_callers(_) ->
    Self = self(),
    Pids = [spawn_link(fun() ->
                           R = [py:call(operator, mul, [I, J]) || J <- lists:seq(1, 100)],
                           Self ! {done, I, R}
                       end) || I <- lists:seq(1, 200)],
    Results = [receive {done, I, R} -> {I, R} after 60000 -> ct:fail(timeout) end || I <- lists:seq(1, 200)],
    [?assertEqual([{ok, I * J} || J <- lists:seq(1, 100)], R) || {I, R} <- Results],
    ?assertEqual(200, length(Pids)).

%% Arguments above the lending threshold are read in place from a caller
%% waiting on a dirty scheduler (or copied if the context is busy).
large_arguments(_) ->
    L = lists:seq(1, 50000),
    ?assertEqual({ok, 50000}, py:call(builtins, len, [L])),
    ?assertEqual({ok, lists:sum(L)}, py:call(builtins, sum, [L])),
    ?assertEqual({ok, #{<<"a">> => L}}, py:call(builtins, dict, [], #{a => L})),
    Nested = [{I, [I, I + 1], #{<<"k">> => I}} || I <- lists:seq(1, 5000)],
    ?assertEqual({ok, Nested}, py:call(builtins, list, [Nested])),
    %% Errors in large arguments are reported like any other.
    ?assertEqual({error, {unsupported_term, 'fun'}}, py:call(builtins, len, [L ++ [fun() -> ok end]])),
    {ok, Ctx} = py_context:new(#{}),
    ?assertEqual({ok, 50000}, py_context:call(Ctx, builtins, len, [L])),
    ok = py_context:stop(Ctx).

%% Many large calls racing for one context: lent, copied or copied after
%% waiting, every result is right.
large_arguments_concurrently(_) ->
    {ok, Ctx} = py_context:new(#{}),
    Self = self(),
    N = 20,
    [spawn_link(fun() ->
                    L = lists:seq(I, I + 20000),
                    Self ! {done, I, py_context:call(Ctx, builtins, sum, [L]), lists:sum(L)}
                end) || I <- lists:seq(1, N)],
    [receive {done, I, R, Sum} -> ?assertEqual({ok, Sum}, R)
     after 60000 -> ct:fail(timeout)
     end || I <- lists:seq(1, N)],
    ok = py_context:stop(Ctx).

%% Python tracebacks go to the logger at debug level, and to the caller when
%% asked for.
tracebacks(_) ->
    ok = py:exec(<<"def boom():\n    raise ValueError('bad')">>),
    ?assertEqual({error, {'ValueError', "bad"}}, py:call('__main__', boom, [])),
    {error, {'ValueError', "bad", Tb}} = py:call(py:context(), '__main__', boom, [], #{traceback => true}),
    ?assertNotEqual(nomatch, binary:match(Tb, <<"in boom">>)),
    ?assertNotEqual(nomatch, binary:match(Tb, <<"ValueError: bad">>)),
    #{level := Level} = logger:get_primary_config(),
    ok = logger:add_handler(tb_probe, ?MODULE, #{config => self(), level => debug}),
    ok = logger:set_primary_config(level, debug),
    try
        ?assertEqual({error, {'ValueError', "bad"}}, py:call('__main__', boom, [])),
        receive
            {logged, #{level := debug, msg := {report, #{what := python_exception, traceback := Logged}}}} ->
                ?assertNotEqual(nomatch, binary:match(Logged, <<"in boom">>))
        after 5000 -> ct:fail(no_debug_log)
        end
    after
        ok = logger:set_primary_config(level, Level),
        ok = logger:remove_handler(tb_probe)
    end.

%% logger handler callback for `tracebacks'.
log(Event, #{config := Pid}) ->
    Pid ! {logged, Event},
    ok.
