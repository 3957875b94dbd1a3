#!/usr/bin/env escript
%% -*- erlang -*-
%%! -pa _build/default/lib/erlang_python/ebin
%%
%% A tour of erlang_python from Erlang: `make demo` runs it after building.
-mode(compile).

main(_) ->
    {ok, _} = application:ensure_all_started(erlang_python),
    {ok, Version} = py:version(),
    section("Python ~s, ~p contexts in ~p mode",
            [hd(binary:split(Version, <<" ">>)), py_context_router:num_contexts(),
             py:execution_mode()]),

    section("Calling functions", []),
    show("py:call(math, sqrt, [2.0])", py:call(math, sqrt, [2.0])),
    show("py:call(json, dumps, [#{name => <<\"Ada\">>, langs => [erlang, python]}], #{sort_keys => true})",
         py:call(json, dumps, [#{name => <<"Ada">>, langs => [erlang, python]}], #{sort_keys => true})),
    show("py:call(\"os.path\", <<\"join\">>, [<<\"/srv\">>, <<\"data\">>])",
         py:call("os.path", <<"join">>, [<<"/srv">>, <<"data">>])),

    section("Expressions and statements", []),
    show("py:eval(<<\"sum(x * x for x in range(n))\">>, #{n => 10})",
         py:eval(<<"sum(x * x for x in range(n))">>, #{n => 10})),
    ok = py:exec(<<"def greet(name):\n    return f'hello, {name}!'\n">>),
    show("py:exec(<<\"def greet(name): ...\">>), py:call('__main__', greet, [<<\"world\">>])",
         py:call('__main__', greet, [<<"world">>])),

    section("Exact values both ways", []),
    show("py:eval(<<\"2 ** 100\">>)", py:eval(<<"2 ** 100">>)),
    show("py:call(builtins, repr, [{bytes, <<\"raw\">>}])", py:call(builtins, repr, [{bytes, <<"raw">>}])),
    show("py:eval(<<\"[float('nan'), float('inf'), None, (1, 2)]\">>)",
         py:eval(<<"[float('nan'), float('inf'), None, (1, 2)]">>)),
    Self = self(),
    {ok, Back} = py:call(builtins, max, [[Self]]),
    show("a pid goes to Python and comes back identical", {ok, Back =:= Self}),
    {ok, Big} = py:eval(<<"{str(i): i for i in range(10000)}">>),
    show("a Python dict with 10 000 keys becomes a map", {ok, map_size(Big)}),

    section("Errors are values, and nothing crashes", []),
    show("py:eval(<<\"1 / 0\">>)", py:eval(<<"1 / 0">>)),
    show("py:call(no_such_module, f, [])", py:call(no_such_module, f, [])),
    show("py:call(builtins, len, [fun() -> ok end])", py:call(builtins, len, [fun() -> ok end])),
    T0 = erlang:monotonic_time(millisecond),
    R = py:eval(<<"[0 for _ in iter(int, 1)]">>, #{}, 500),
    show(io_lib:format("an endless loop with a 500 ms timeout (returned after ~p ms)",
                       [erlang:monotonic_time(millisecond) - T0]), R),
    show("the context is still fine: py:eval(<<\"6 * 7\">>)", py:eval(<<"6 * 7">>)),

    section("Contexts", []),
    {ok, Ctx} = py_context:new(#{mode => worker}),
    {ok, #{thread_id := Tid}} = py_context:info(Ctx),
    Tids = lists:usort([element(2, py_context:eval(Ctx, <<"__import__('threading').get_native_id()">>))
                        || _ <- lists:seq(1, 50)]),
    show(io_lib:format("50 calls on one context ran on OS thread(s) ~p (context thread ~p)", [Tids, Tid]),
         {ok, Tids =:= [Tid]}),
    case py:subinterp_supported() of
        true ->
            {ok, A} = py_context:new(#{mode => owngil}),
            {ok, B} = py_context:new(#{mode => owngil}),
            ok = py_context:exec(A, <<"import sys; sys.tag = 'only in A'">>),
            show("two own-GIL sub-interpreters have separate sys modules",
                 {ok, {py_context:eval(A, <<"__import__('sys').tag">>),
                       py_context:eval(B, <<"getattr(__import__('sys'), 'tag', None)">>)}}),
            Work = <<"sum(i * i for i in range(3_000_000))">>,
            {SeqUs, _} = timer:tc(fun() -> [py_context:eval(A, Work) || _ <- [1, 2]] end),
            {ParUs, _} = timer:tc(fun() -> parallel([fun() -> py_context:eval(A, Work) end,
                                                      fun() -> py_context:eval(B, Work) end]) end),
            show(io_lib:format("CPU-bound Python on 2 own-GIL contexts: ~.2fx faster than one after the other",
                               [SeqUs / ParUs]), {ok, ParUs < SeqUs}),
            ok = py_context:stop(A),
            ok = py_context:stop(B);
        false ->
            io:format("  (own-GIL sub-interpreters need Python 3.12+)~n")
    end,
    ok = py_context:stop(Ctx),

    section("Python calling Erlang", []),
    ok = py:register_function(price, fun([Item]) -> maps:get(Item, #{<<"tea">> => 3, <<"cake">> => 5}) end),
    show("py:register_function(price, ...), then py:eval(<<\"erlang.price('tea') + erlang.price('cake')\">>)",
         py:eval(<<"erlang.price('tea') + erlang.price('cake')">>)),
    ok = py:exec(<<"trail = []\n"
                   "def countdown(n):\n"
                   "    trail.append(n)\n"
                   "    return 0 if n == 0 else erlang.call('again', n) + 1\n">>),
    ok = py:register_function(again, fun([N]) -> {ok, V} = py:call('__main__', countdown, [N - 1]), V end),
    show("Python -> Erlang -> Python, 20 levels deep, every line run once",
         {py:call('__main__', countdown, [20]), py:eval(<<"len(trail)">>)}),
    Self = self(),
    {ok, none} = py:call(erlang, send, [Self, {<<"hello">>, <<"from python">>}]),
    show("erlang.send(pid, ...) from Python", receive Msg -> {ok, Msg} after 1000 -> timeout end),
    show("shared state: erlang.state_incr('visits') from Python, py:state_fetch from Erlang",
         {py:eval(<<"erlang.state_incr('visits', 3)">>), py:state_fetch(<<"visits">>)}),

    section("asyncio inside the VM", []),
    ok = py_event_loop:exec(<<"import asyncio\n"
                              "async def fetch(n):\n"
                              "    await asyncio.sleep(0.01)\n"
                              "    return n * 2\n"
                              "async def echo_server_round_trip(payload):\n"
                              "    async def echo(r, w):\n"
                              "        w.write(await r.read(1024)); await w.drain(); w.close()\n"
                              "    server = await asyncio.start_server(echo, '127.0.0.1', 0)\n"
                              "    r, w = await asyncio.open_connection(*server.sockets[0].getsockname())\n"
                              "    w.write(payload.encode())\n"
                              "    reply = await r.read(1024)\n"
                              "    w.close(); server.close()\n"
                              "    return reply\n">>),
    show("py_event_loop:run('__main__', fetch, [21])", py_event_loop:run('__main__', fetch, [21])),
    show("a TCP echo server and client on the loop",
         py_event_loop:run('__main__', echo_server_round_trip, [<<"ping">>])),
    show("py:async_gather: three coroutines at once, each sleeping 50 ms",
         timed(fun() -> py:async_gather([{asyncio, sleep, [0.05, N]} || N <- [1, 2, 3]]) end)),
    show("erlang.run(coro) inside a py:eval",
         py:eval(<<"erlang.run(__import__('asyncio').sleep(0.001, 'slept'))">>)),
    show("the sandbox: os.system inside the VM",
         py:eval(<<"__import__('os').system('true')">>)),

    section("Streams, channels, shared dicts", []),
    ok = py:exec(<<"def tokens(n):\n"
                   "    for i in range(n):\n"
                   "        yield f'token {i}'\n"
                   "def drain(ch):\n"
                   "    return [item for item in erlang.Channel(ch)]\n">>),
    show("py:stream('__main__', tokens, [3]): a generator's values", py:stream('__main__', tokens, [3])),
    {ok, StreamRef} = py:stream_start('__main__', tokens, [2]),
    show("py:stream_start: values arrive as messages",
         [receive {py_stream, StreamRef, E} -> E end || _ <- [1, 2, 3]]),
    {ok, Ch} = py_channel:new(),
    [ok = py_channel:send(Ch, {job, N}) || N <- [1, 2, 3]],
    ok = py_channel:close(Ch),
    show("py_channel:send x3, close, then Python iterates erlang.Channel", py:call('__main__', drain, [Ch])),
    {ok, Dict} = py:shared_dict_new(),
    ok = py:shared_dict_set(Dict, <<"config">>, #{<<"retries">> => 3}),
    {ok, none} = py:eval(<<"erlang.SharedDict(d).__setitem__('seen_by_python', True)">>, #{d => Dict}),
    show("a SharedDict written from both sides", {py:shared_dict_get(Dict, <<"config">>),
                                                   py:shared_dict_get(Dict, <<"seen_by_python">>)}),
    io:format("~nDone.~n"),
    halt(0).

timed(F) ->
    T0 = erlang:monotonic_time(millisecond),
    Result = F(),
    {Result, {elapsed_ms, erlang:monotonic_time(millisecond) - T0}}.

parallel(Funs) ->
    Self = self(),
    Refs = [begin Ref = make_ref(), spawn_link(fun() -> Self ! {Ref, F()} end), Ref end || F <- Funs],
    [receive {Ref, V} -> V end || Ref <- Refs].

section(Fmt, Args) ->
    io:format("~n== " ++ Fmt ++ " ==~n", Args).

show(What, Result) ->
    io:format("  ~s~n    -> ~p~n", [What, Result]).
