%% Drop-in behaviour of the C library's reactor and serving APIs (issue 14,
%% items 6 and 15): the `erlang.reactor' protocol API as its docs give it
%% (Protocol attributes, write/read, module functions used without any
%% asyncio loop, the action words py_reactor_context acts on), the
%% examples/http_echo reactor, ErlangEventLoop.create_unix_server over a
%% stale socket file, the sandbox's message, erlang.server's checks.
-module(py_compat_reactor_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(PY_OWN_INIT_PER_TESTCASE, true).
-define(PY_BOTH_MODES, <<>>).
-include("py_suite.hrl").

suite() ->
    [{timetrap, {minutes, 3}}].

all() ->
    [{group, worker}, {group, owngil}].

groups() ->
    py_test_groups:both_modes(
      [protocol_attributes, write_returns_the_count, read_returns_empty_bytes,
       module_functions_without_a_loop, continue_and_read_pending_in_a_reactor,
       async_pending_and_close_connection_in_a_reactor, http_echo_example_reactor,
       create_unix_server_over_a_stale_socket_file, sandbox_message_names_the_event,
       server_refuses_bad_descriptors]).

%% The group's context, with the helpers (compat_reactor.py) in __main__.
init_per_testcase(_Case, Config) ->
    Config1 = py_test_groups:context_for_case(Config, <<>>),
    ok = py:exec(?config(ctx, Config1), helpers(Config1)),
    Config1.

helpers(Config) ->
    {ok, Code} = file:read_file(filename:join(?config(data_dir, Config), "compat_reactor.py")),
    Code.

%% A reactor of the group's mode with the helpers and `Factory', and its
%% context, where this process has the helpers too (its namespace there is
%% its own) and state() is what the protocols record.
reactor(Config, Id, Factory) ->
    Setup = <<(helpers(Config))/binary, "\nfresh_state()\nreactor.set_protocol_factory(", Factory/binary, ")\n">>,
    {ok, R} = py_reactor_context:start_link(Id, ?config(mode, Config), #{setup_code => Setup}),
    Ctx = py_reactor_context:context(R),
    ok = py:exec(Ctx, helpers(Config)),
    {R, Ctx}.

listen() ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {reuseaddr, true}]),
    {ok, Port} = inet:port(L),
    {L, Port}.

%% Connects to `Port', accepting on `L' and handing the connection to
%% `Reactor' with `ClientInfo'.
connect_through(L, Port, Reactor, ClientInfo) ->
    Self = self(),
    spawn_link(fun() ->
                       {ok, S} = gen_tcp:accept(L),
                       {ok, Fd} = inet:getfd(S),
                       Self ! {handoff, py_reactor_context:handoff(Reactor, Fd, ClientInfo)},
                       gen_tcp:close(S)
               end),
    {ok, C} = gen_tcp:connect("127.0.0.1", Port, [binary, {active, false}]),
    receive {handoff, H} -> ?assertEqual(ok, H) after 10000 -> ct:fail(no_handoff) end,
    C.

%%% ---------------------------------------------------------------------

protocol_attributes(Config) ->
    ?assertEqual({ok, [-1, #{}, <<"bytearray">>, 0, false]},
                 py:eval(?config(ctx, Config), <<"attributes()">>)).

%% write() writes at once and returns the count; 0 when the socket is full
%% (EAGAIN) and on an error.
write_returns_the_count(Config) ->
    ?assertEqual({ok, [3, <<"abc">>, true, 0, 0]}, py:eval(?config(ctx, Config), <<"write_results()">>)).

%% read() returns b'' on EAGAIN, at end of file and on an error, never None.
read_returns_empty_bytes(Config) ->
    ?assertEqual({ok, [<<>>, <<"data">>, <<>>, <<>>]}, py:eval(?config(ctx, Config), <<"read_results()">>)).

%% The module functions from plain py:exec / py:eval: no loop runs, none
%% is current; each returns the protocol's action word.
module_functions_without_a_loop(Config) ->
    Ctx = ?config(ctx, Config),
    ok = py:exec(Ctx, <<"reactor.set_protocol_factory(Recorder)\n"
                        "a, b = socket.socketpair()\n"
                        "fd = a.fileno()\n"
                        "reactor.init_connection(fd, {'peer': 'test'})\n">>),
    ?assertEqual({ok, true}, py:eval(Ctx, <<"no_running_loop()">>)),
    ?assertEqual({ok, <<"Recorder">>}, py:eval(Ctx, <<"type(reactor.get_protocol(fd)).__name__">>)),
    ?assertEqual({ok, #{<<"peer">> => <<"test">>}}, py:eval(Ctx, <<"reactor.get_protocol(fd).client_info">>)),
    ?assertEqual({ok, true}, py:eval(Ctx, <<"reactor.get_protocol(fd).fd == fd">>)),
    %% on_read_ready reads by itself when given no data ...
    {ok, 2} = py:eval(Ctx, <<"b.send(b'hi')">>),
    ?assertEqual({ok, <<"write_pending">>}, py:eval(Ctx, <<"reactor.on_read_ready(fd)">>)),
    ?assertEqual({ok, <<"echo:hi">>}, py:eval(Ctx, <<"b.recv(100)">>)),
    %% ... and passes on what it is given.
    ?assertEqual({ok, <<"write_pending">>}, py:eval(Ctx, <<"reactor.on_read_ready(fd, b'given')">>)),
    ?assertEqual({ok, <<"echo:given">>}, py:eval(Ctx, <<"b.recv(100)">>)),
    ?assertEqual({ok, <<"read_pending">>}, py:eval(Ctx, <<"reactor.on_write_ready(fd)">>)),
    %% No reactor serves this descriptor.
    ?assertEqual({ok, false}, py:eval(Ctx, <<"reactor.signal_write_ready(fd)">>)),
    ok = py:exec(Ctx, <<"proto = reactor.get_protocol(fd)\n"
                        "reactor.close_connection(fd)\n">>),
    ?assertEqual({ok, true}, py:eval(Ctx, <<"proto.closed">>)),
    ?assertEqual({ok, true}, py:eval(Ctx, <<"reactor.get_protocol(fd) is None">>)),
    ?assertEqual({ok, [[<<"made">>, #{<<"peer">> => <<"test">>}],
                       [<<"data">>, <<"hi">>, <<"ReactorBuffer">>],
                       [<<"data">>, <<"given">>, <<"ReactorBuffer">>],
                       <<"write_ready">>, <<"lost">>]},
                 py:eval(Ctx, <<"events">>)),
    %% The descriptor is still open and still works.
    ?assertEqual({ok, true}, py:eval(Ctx, <<"stat.S_ISSOCK(os.fstat(fd).st_mode)">>)),
    ?assertEqual({ok, <<"still open">>}, py:eval(Ctx, <<"b.sendall(b'still open') or a.recv(100)">>)),
    %% A descriptor nobody serves: close.
    ?assertEqual({ok, <<"close">>}, py:eval(Ctx, <<"reactor.on_read_ready(fd)">>)),
    ?assertEqual({ok, <<"close">>}, py:eval(Ctx, <<"reactor.on_write_ready(fd)">>)),
    ok = py:exec(Ctx, <<"a.close()\nb.close()\n">>).

%% write_ready's "continue" (more to write: call again when writable) and
%% "read_pending" (back to reading), as py_reactor_context acts on them: a
%% 4 MiB answer in 64 KiB writes, twice on one connection.
continue_and_read_pending_in_a_reactor(Config) ->
    {R, Ctx} = reactor(Config, big, <<"Big">>),
    {L, Port} = listen(),
    C = connect_through(L, Port, R, #{}),
    Size = 4 * 1024 * 1024 + 3,
    [begin
         ok = gen_tcp:send(C, <<"go">>),
         {ok, Reply} = gen_tcp:recv(C, Size, 30000),
         ?assertEqual(<<"end">>, binary:part(Reply, Size - 3, 3))
     end || _ <- [1, 2]],
    ?assertEqual({ok, 2}, py:eval(Ctx, <<"state().counts['requests']">>)),
    ?assertEqual({ok, 2}, py:eval(Ctx, <<"state().counts['read_pending']">>)),
    %% At least 64 chunks per answer after the first.
    {ok, Continues} = py:eval(Ctx, <<"state().counts['continue']">>),
    ?assert(Continues >= 2 * 64),
    gen_tcp:close(C),
    ok = py_reactor_context:stop(R).

%% async_pending, answered by signal_write_ready from another thread; a
%% protocol taking its descriptor back with close_connection (the reactor
%% no longer serves it, nor closes it).
async_pending_and_close_connection_in_a_reactor(Config) ->
    {R, Ctx} = reactor(Config, later, <<"Later">>),
    {L, Port} = listen(),
    C = connect_through(L, Port, R, #{pid => self()}),
    [begin
         ok = gen_tcp:send(C, Word),
         ?assertEqual({ok, string:uppercase(Word)}, gen_tcp:recv(C, byte_size(Word), 10000))
     end || Word <- [<<"hello">>, <<"again">>]],
    %% signal_write_ready answered true both times.
    [receive {<<"signalled">>, Signalled} -> ?assert(Signalled) after 10000 -> ct:fail(no_signal) end
     || _ <- [1, 2]],
    ok = gen_tcp:send(C, <<"detach">>),
    Fd = receive {<<"detached">>, F} -> F after 10000 -> ct:fail(not_detached) end,
    receive {<<"lost">>, Fd, Closed} -> ?assert(Closed) after 10000 -> ct:fail(no_connection_lost) end,
    ?assertEqual({ok, true}, py:eval(Ctx, <<"detached_fd_is_open(fd)">>, #{fd => Fd})),
    #{active_connections := 0, total_connections := 1} = py_reactor_context:stats(R),
    %% Whoever took it back still talks on it, then closes it.
    ?assertEqual({ok, true}, py:eval(Ctx, <<"say_bye_and_close(fd)">>, #{fd => Fd})),
    ?assertEqual({ok, <<"bye">>}, gen_tcp:recv(C, 3, 10000)),
    ?assertEqual({error, closed}, gen_tcp:recv(C, 0, 10000)),
    ok = py_reactor_context:stop(R).

%% examples/http_echo's reactor, ported to the write_buffer style:
%% keep-alive requests, one with a body larger than the socket takes at
%% once, then Connection: close.
http_echo_example_reactor(Config) ->
    Src = example_source(),
    {ok, http_echo, Bin} = compile:file(Src, [binary, return_errors]),
    _ = code:purge(http_echo),
    {module, http_echo} = code:load_binary(http_echo, Src, Bin),
    {ok, Front} = http_echo:start_reactor(0, ?config(mode, Config)),
    {ok, C} = gen_tcp:connect("127.0.0.1", http_echo:port(Front), [binary, {active, false}]),
    Big = binary:copy(<<"0123456789abcdef">>, 256 * 1024),
    [begin
         ok = gen_tcp:send(C, request(Body, <<"keep-alive">>)),
         Expected = response(Body, <<"keep-alive">>),
         ?assertEqual({ok, Expected}, gen_tcp:recv(C, byte_size(Expected), 30000))
     end || Body <- [<<"hello">>, Big, <<"after">>]],
    ok = gen_tcp:send(C, request(<<"bye">>, <<"close">>)),
    Last = response(<<"bye">>, <<"close">>),
    ?assertEqual({ok, Last}, gen_tcp:recv(C, byte_size(Last), 10000)),
    ?assertEqual({error, closed}, gen_tcp:recv(C, 0, 10000)),
    http_echo:stop(Front).

request(Body, Connection) ->
    <<"POST / HTTP/1.1\r\nHost: x\r\nConnection: ", Connection/binary, "\r\nContent-Length: ",
      (integer_to_binary(byte_size(Body)))/binary, "\r\n\r\n", Body/binary>>.

response(Body, Connection) ->
    <<"HTTP/1.1 200 OK\r\nContent-Length: ", (integer_to_binary(byte_size(Body)))/binary,
      "\r\nConnection: ", Connection/binary, "\r\n\r\n", Body/binary>>.

example_source() ->
    Test = proplists:get_value(source, ?MODULE:module_info(compile)),
    Roots = [code:lib_dir(erlang_python), filename:dirname(filename:dirname(Test))],
    Candidates = [filename:join([Root, "examples", "http_echo", "http_echo.erl"]) || Root <- Roots],
    case [F || F <- Candidates, filelib:is_regular(F)] of
        [F | _] -> F;
        [] -> ct:fail({no_example, Candidates})
    end.

create_unix_server_over_a_stale_socket_file(Config) ->
    ?assertEqual({ok, [true, <<"ErlangEventLoop">>, <<"UNIX">>]},
                 py:eval(?config(ctx, Config), <<"run_unix_server_over_stale_file()">>)).

%% Every refused event's RuntimeError begins "<event> is blocked in Erlang
%% VM context".
sandbox_message_names_the_event(Config) ->
    {ok, Messages} = py:eval(?config(ctx, Config), <<"sandbox_messages()">>),
    ?assertEqual(9, length(Messages)),
    [begin
         Prefix = <<Event/binary, " is blocked in Erlang VM context">>,
         ?assertEqual({Event, Prefix}, {Event, binary:part(Message, 0, min(byte_size(Prefix), byte_size(Message)))})
     end || [Event, Message] <- Messages].

server_refuses_bad_descriptors(Config) ->
    ?assertEqual({ok, [<<"ValueError">>, <<"ValueError">>, <<"ValueError">>, <<"ValueError">>]},
                 py:eval(?config(ctx, Config), <<"run_bad_fds()">>)).
