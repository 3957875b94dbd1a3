%% Serving sockets from Python: the reactor (connections handed over by
%% Erlang), worker loops, and erlang.server on descriptors from Erlang.
-module(py_reactor_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(PY_BOTH_MODES, <<>>).
-include("py_suite.hrl").

all() ->
    [{group, worker}, {group, owngil}, reactor_echo_200_clients, connection_limit, failing_protocol_closes_its_own,
     default_reactor_handoff, three_owngil_workers_one_socket, udp_serve, reactor_serve_and_run_fd,
     adopt_a_connection, streaming_response_of_many_writes, loop_moved_to_another_context].

groups() ->
    py_test_groups:both_modes([worker_loop_start_stop_submit]).

-define(ECHO, <<"import erlang.reactor as reactor\n"
                "class Echo(reactor.Protocol):\n"
                "    def data_received(self, data):\n"
                "        if data.startswith(b'boom'):\n"
                "            raise ValueError('protocol failed')\n"
                "        self.write(data.upper())\n"
                "        return 'write_pending'\n"
                "reactor.set_protocol_factory(Echo)\n">>).

-define(SERVER, <<"import asyncio, erlang.server as server\n"
                  "class Upper(asyncio.Protocol):\n"
                  "    def connection_made(self, t):\n"
                  "        self.t = t\n"
                  "    def data_received(self, d):\n"
                  "        self.t.write(d.upper())\n"
                  "class UdpUpper(asyncio.DatagramProtocol):\n"
                  "    def connection_made(self, t):\n"
                  "        self.t = t\n"
                  "    def datagram_received(self, d, addr):\n"
                  "        self.t.sendto(d.upper(), addr)\n"
                  "servers = []\n"
                  "async def start(fd, udp=False):\n"
                  "    servers.append(await server.serve(fd, UdpUpper if udp else Upper, udp=udp))\n"
                  "    return len(servers)\n"
                  "adopted = []\n"
                  "async def take(fd):\n"
                  "    transport, protocol = await server.adopt(fd, Upper)\n"
                  "    adopted.append(transport)\n"
                  "    return type(protocol).__name__\n"
                  "async def stop_all():\n"
                  "    for s in servers:\n"
                  "        await server.stop_serving(s)\n"
                  "    servers.clear()\n"
                  "    return 'stopped'\n">>).

listen() ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {reuseaddr, true}, {backlog, 256}]),
    {ok, Port} = inet:port(L),
    {L, Port}.

%% Accepts `N' connections on `L' and hands each to `Reactor'.
acceptor(L, Reactor, N) ->
    Self = self(),
    spawn_link(fun() -> accept_loop(L, Reactor, N), Self ! accepted end).

accept_loop(_L, _Reactor, 0) -> ok;
accept_loop(L, Reactor, N) ->
    {ok, S} = gen_tcp:accept(L),
    {ok, Fd} = inet:getfd(S),
    Result = py_reactor_context:handoff(Reactor, Fd, #{n => N}),
    ok = gen_tcp:close(S),
    ok = case Result of ok -> ok; {error, max_connections} -> ok end,
    accept_loop(L, Reactor, N - 1).

client(Port, Payload) ->
    {ok, C} = gen_tcp:connect("127.0.0.1", Port, [binary, {active, false}]),
    ok = gen_tcp:send(C, Payload),
    R = gen_tcp:recv(C, byte_size(Payload), 10000),
    {C, R}.

%%% ---------------------------------------------------------------------

reactor_echo_200_clients(_Config) ->
    {ok, R} = py_reactor_context:start_link(echo, worker, #{setup_code => ?ECHO, max_connections => 300}),
    {L, Port} = listen(),
    acceptor(L, R, 200),
    Self = self(),
    [spawn_link(fun() ->
                        {C, R1} = client(Port, <<"hello ", (integer_to_binary(I))/binary>>),
                        ok = gen_tcp:send(C, <<"again">>),
                        R2 = gen_tcp:recv(C, 5, 10000),
                        gen_tcp:close(C),
                        Self ! {done, I, R1, R2}
                end) || I <- lists:seq(1, 200)],
    [receive {done, I, R1, R2} ->
             ?assertEqual({ok, <<"HELLO ", (integer_to_binary(I))/binary>>}, R1),
             ?assertEqual({ok, <<"AGAIN">>}, R2)
     after 30000 -> ct:fail({no_answer, I})
     end || I <- lists:seq(1, 200)],
    receive accepted -> ok end,
    #{total_connections := 200, max_connections := 300, id := echo} = py_reactor_context:stats(R),
    ok = py_reactor_context:stop(R).

connection_limit(_Config) ->
    {ok, R} = py_reactor_context:start_link(limited, worker, #{setup_code => ?ECHO, max_connections => 2}),
    {L, Port} = listen(),
    Clients = [begin
                   Self = self(),
                   spawn_link(fun() -> {ok, S} = gen_tcp:accept(L), {ok, Fd} = inet:getfd(S),
                                       Self ! {handoff, py_reactor_context:handoff(R, Fd, #{})},
                                       gen_tcp:close(S) end),
                   {ok, C} = gen_tcp:connect("127.0.0.1", Port, [binary, {active, false}]),
                   Res = receive {handoff, H} -> H end,
                   {C, Res}
               end || _ <- lists:seq(1, 3)],
    ?assertEqual([ok, ok, {error, max_connections}], [H || {_, H} <- Clients]),
    %% The refused one is closed; the others still work.
    [{C1, _}, {C2, _}, {C3, _}] = Clients,
    ?assertEqual({error, closed}, gen_tcp:recv(C3, 0, 10000)),
    ok = gen_tcp:send(C1, <<"x">>),
    ?assertEqual({ok, <<"X">>}, gen_tcp:recv(C1, 1, 10000)),
    ok = gen_tcp:send(C2, <<"y">>),
    ?assertEqual({ok, <<"Y">>}, gen_tcp:recv(C2, 1, 10000)),
    #{active_connections := 2} = py_reactor_context:stats(R),
    ok = py_reactor_context:stop(R).

failing_protocol_closes_its_own(_Config) ->
    {ok, R} = py_reactor_context:start_link(failing, worker, #{setup_code => ?ECHO}),
    {L, Port} = listen(),
    acceptor(L, R, 2),
    {Good, {ok, <<"FINE">>}} = client(Port, <<"fine">>),
    {ok, Bad} = gen_tcp:connect("127.0.0.1", Port, [binary, {active, false}]),
    ok = gen_tcp:send(Bad, <<"boom">>),
    ?assertEqual({error, closed}, gen_tcp:recv(Bad, 0, 10000)),
    ok = gen_tcp:send(Good, <<"still">>),
    ?assertEqual({ok, <<"STILL">>}, gen_tcp:recv(Good, 5, 10000)),
    ok = py_reactor_context:stop(R).

default_reactor_handoff(_Config) ->
    Ctx = py_reactor_context:context(py_reactor_context_default),
    ok = py_context:exec(Ctx, ?ECHO),
    {L, Port} = listen(),
    Self = self(),
    spawn_link(fun() -> {ok, S} = gen_tcp:accept(L), {ok, Fd} = inet:getfd(S),
                        Self ! {handoff, py_reactor_context:handoff(Fd, #{})}, gen_tcp:close(S) end),
    {C, Reply} = client(Port, <<"default">>),
    receive {handoff, H} -> ?assertEqual(ok, H) end,
    ?assertEqual({ok, <<"DEFAULT">>}, Reply),
    gen_tcp:close(C).

worker_loop_start_stop_submit(Config) ->
    Ctx = ?config(ctx, Config),
    ?assertEqual({error, no_loop}, py_context:stop_loop(Ctx)),
    %% submit works without a loop too (runs to completion).
    ?assertEqual({ok, <<"done">>}, py_context:submit_await(Ctx, asyncio, sleep, [0.001, <<"done">>])),
    ok = py_context:start_loop(Ctx),
    ?assertEqual({error, already_running}, py_context:start_loop(Ctx)),
    {ok, _} = py_context:loop_ref(Ctx),
    ok = py_context:exec(Ctx, <<"import asyncio\nasync def later(x):\n    await asyncio.sleep(0.001)\n    return x * 2\n">>),
    {ok, Ref} = py_context:submit(Ctx, '__main__', later, [21]),
    ?assertEqual({ok, 42}, py_event_loop:await(Ref, 10000)),
    ?assertEqual({ok, 10}, py_context:submit_await(Ctx, '__main__', later, [], #{x => 5}, 10000)),
    ?assertEqual({ok, true}, py_context:eval(Ctx, <<"asyncio.get_running_loop().is_running()">>)),
    ok = py_context:stop_loop(Ctx),
    receive {py_loop_exit, Ctx, Exit} -> ?assertEqual({ok, <<"stopped">>}, Exit) after 10000 -> ct:fail(no_exit) end,
    %% The owner's death stops the loop.
    Self = self(),
    Owner = spawn(fun() -> Self ! {started, py_context:start_loop(Ctx, #{owner => self()})},
                           receive stop -> ok end end),
    receive {started, ok} -> ok end,
    Mon = monitor(process, Owner),
    Owner ! stop,
    receive {'DOWN', Mon, process, _, _} -> ok end,
    ?assertEqual(ok, until_loop_stopped(Ctx, 200)).

%% The watcher removes the loop when it has stopped; wait for that by
%% asking (each answer is a round trip through the context).
until_loop_stopped(_Ctx, 0) -> still_running;
until_loop_stopped(Ctx, N) ->
    case ets:lookup(py_worker_loops, Ctx) of
        [] -> ok;
        _ -> _ = py_context:eval(Ctx, <<"1">>), until_loop_stopped(Ctx, N - 1)
    end.

three_owngil_workers_one_socket(_Config) ->
    Mode = case py:subinterp_supported() of true -> owngil; false -> worker end,
    {L, Port} = listen(),
    {ok, LFd} = inet:getfd(L),
    Workers = [begin
                   {ok, W} = py_context:new(#{mode => Mode}),
                   ok = py_context:start_loop(W),
                   ok = py_context:exec(W, ?SERVER),
                   {ok, 1} = py_context:submit_await(W, '__main__', start, [LFd], #{}, 10000),
                   W
               end || _ <- lists:seq(1, 3)],
    Self = self(),
    N = 150,
    [spawn_link(fun() -> Self ! {reply, I, element(2, client(Port, <<"req", (integer_to_binary(I))/binary>>))} end)
     || I <- lists:seq(1, N)],
    [receive {reply, I, R} -> ?assertEqual({ok, <<"REQ", (integer_to_binary(I))/binary>>}, R)
     after 30000 -> ct:fail({no_reply, I}) end || I <- lists:seq(1, N)],
    [begin
         {ok, <<"stopped">>} = py_context:submit_await(W, '__main__', stop_all, [], #{}, 10000),
         ok = py_context:stop_loop(W),
         py_context:stop(W)
     end || W <- Workers],
    gen_tcp:close(L).

udp_serve(_Config) ->
    {ok, U} = gen_udp:open(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(U),
    {ok, UFd} = inet:getfd(U),
    {ok, W} = py_context:new(#{mode => worker}),
    ok = py_context:start_loop(W),
    ok = py_context:exec(W, ?SERVER),
    {ok, 1} = py_context:submit_await(W, '__main__', start, [UFd], #{udp => true}, 10000),
    {ok, C} = gen_udp:open(0, [binary, {active, false}]),
    ok = gen_udp:send(C, {127, 0, 0, 1}, Port, <<"datagram">>),
    ?assertMatch({ok, {_, Port, <<"DATAGRAM">>}}, gen_udp:recv(C, 0, 10000)),
    {ok, <<"stopped">>} = py_context:submit_await(W, '__main__', stop_all, [], #{}, 10000),
    ok = py_context:stop_loop(W),
    py_context:stop(W).

reactor_serve_and_run_fd(_Config) ->
    {ok, W} = py_context:new(#{mode => worker}),
    ok = py_context:start_loop(W),
    ok = py_context:exec(W, <<?ECHO/binary,
                              "import socket\n"
                              "listener = socket.socket()\n"
                              "listener.bind(('127.0.0.1', 0))\n"
                              "listener.listen(16)\n"
                              "reactor.serve(listener, Echo)\n"
                              "port = listener.getsockname()[1]\n">>),
    {ok, Port} = py_context:eval(W, <<"port">>),
    {C, Reply} = client(Port, <<"served">>),
    ?assertEqual({ok, <<"SERVED">>}, Reply),
    gen_tcp:close(C),
    %% run_fd: one connected descriptor; the other end talks from a
    %% coroutine on the same loop.
    ok = py_context:exec(W, <<"import asyncio\n"
                              "async def through_run_fd():\n"
                              "    loop = asyncio.get_running_loop()\n"
                              "    a, b = socket.socketpair()\n"
                              "    b.setblocking(False)\n"
                              "    reactor.run_fd(a.detach(), Echo)\n"
                              "    await loop.sock_sendall(b, b'pair')\n"
                              "    reply = await loop.sock_recv(b, 4)\n"
                              "    b.close()\n"
                              "    return reply\n">>),
    ?assertEqual({ok, <<"PAIR">>}, py_context:submit_await(W, '__main__', through_run_fd, [], #{}, 10000)),
    ok = py_context:stop_loop(W),
    py_context:stop(W).

adopt_a_connection(_Config) ->
    {ok, W} = py_context:new(#{mode => worker}),
    ok = py_context:start_loop(W),
    ok = py_context:exec(W, ?SERVER),
    {L, Port} = listen(),
    {ok, C} = gen_tcp:connect("127.0.0.1", Port, [binary, {active, false}]),
    {ok, S} = gen_tcp:accept(L),
    {ok, Fd} = inet:getfd(S),
    ?assertEqual({ok, <<"Upper">>}, py_context:submit_await(W, '__main__', take, [Fd], #{}, 10000)),
    %% Python serves its own copy: Erlang's socket may go.
    ok = gen_tcp:close(S),
    ok = gen_tcp:send(C, <<"adopted">>),
    ?assertEqual({ok, <<"ADOPTED">>}, gen_tcp:recv(C, 7, 10000)),
    ok = py_context:stop_loop(W),
    py_context:stop(W).

%% A response written in thousands of write_pending rounds (each write
%% taken at once by the socket) arrives whole.
streaming_response_of_many_writes(_Config) ->
    Setup = <<"import erlang.reactor as reactor\n"
              "class Stream(reactor.Protocol):\n"
              "    def data_received(self, data):\n"
              "        self.left = 5000\n"
              "        return self.write_ready()\n"
              "    def write_ready(self):\n"
              "        if self.left == 0:\n"
              "            return 'close'\n"
              "        self.left -= 1\n"
              "        self.write(b'x')\n"
              "        return 'write_pending'\n"
              "reactor.set_protocol_factory(Stream)\n">>,
    {ok, R} = py_reactor_context:start_link(streaming, worker, #{setup_code => Setup}),
    {L, Port} = listen(),
    acceptor(L, R, 1),
    {ok, C} = gen_tcp:connect("127.0.0.1", Port, [binary, {active, false}]),
    ok = gen_tcp:send(C, <<"go">>),
    ?assertEqual(5000, byte_size(recv_until_closed(C, <<>>))),
    ok = py_reactor_context:stop(R).

recv_until_closed(C, Acc) ->
    case gen_tcp:recv(C, 0, 10000) of
        {ok, Data} -> recv_until_closed(C, <<Acc/binary, Data/binary>>);
        {error, closed} -> Acc
    end.

%% A loop made on one context and run on another wakes up for the second
%% context's requests (it watches the context it runs on).
loop_moved_to_another_context(_Config) ->
    {ok, A} = py_context:new(#{mode => worker}),
    {ok, B} = py_context:new(#{mode => worker}),
    {ok, _} = py_context:eval(A, <<"setattr(__import__('builtins'), '_moved_loop', erlang.new_event_loop())">>),
    Self = self(),
    spawn_link(fun() ->
                       Self ! {ran, py_context:eval(B, <<"erlang.send(pid, 'starting') or "
                                                         "__import__('builtins')._moved_loop.run_until_complete("
                                                         "__import__('asyncio').sleep(60, 'slept'))">>,
                                                    #{pid => Self}, 120000)}
               end),
    %% From here on B is busy with that request: later requests to B can
    %% only be served by the loop's wait.
    receive <<"starting">> -> ok after 10000 -> ct:fail(not_started) end,
    %% Served by B's running loop: without watching B it would wait 60 s.
    ?assertEqual({ok, true}, py_context:eval(B, <<"__import__('builtins')._moved_loop.is_running()">>, #{}, 10000)),
    %% ... because its selector now watches B's wake-up descriptor.
    ?assertEqual({ok, true}, py_context:eval(B, <<"__import__('builtins')._moved_loop._selector._wake == "
                                                  "__import__('_erlang_loop')._wake_fd()">>, #{}, 10000)),
    {ok, _} = py_context:eval(B, <<"__import__('builtins')._moved_loop.stop()">>, #{}, 10000),
    receive {ran, R} -> ?assertMatch({error, {'RuntimeError', _}}, R) after 30000 -> ct:fail(loop_not_stopped) end,
    py_context:stop(A),
    py_context:stop(B).
