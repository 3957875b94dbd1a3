%% An Erlang front for a Python HTTP/1.1 keep-alive echo (http_echo.py):
%% Erlang owns the listening socket, Python protocol code serves the
%% connections, with no proxy hop in between. Two ways:
%%
%%   * reactor: Erlang accepts each connection (gen_tcp) and hands its
%%     descriptor to a reactor context (py_reactor_context:handoff/3);
%%   * server: Python's asyncio accepts on the socket Erlang listens on,
%%     in `Workers' contexts at once (erlang.server.serve; the kernel
%%     spreads connections over them).
%%
%% Usage (after `make build', from the repository root):
%%   erl -pa _build/default/lib/erlang_python/ebin
%%   1> application:ensure_all_started(erlang_python).
%%   2> c("examples/http_echo/http_echo").
%%   3> {ok, Reactor} = http_echo:start_reactor(8080).
%%   4> {ok, Server} = http_echo:start_server(8081, 2).
%%   $ curl -d hello http://127.0.0.1:8080/   ->  hello
-module(http_echo).

-export([start_reactor/1, start_reactor/2, start_server/2, start_server/3, stop/1, port/1]).

-define(HERE, filename:dirname(code:which(?MODULE))).

%% @doc Listens on `Port' (0: any) and hands every connection to a new
%% reactor context running the protocol.
start_reactor(Port) ->
    start_reactor(Port, worker).

start_reactor(Port, Mode) ->
    ok = py:add_path(source_dir()),
    Setup = <<"import erlang.reactor, http_echo\n"
              "erlang.reactor.set_protocol_factory(http_echo.reactor_protocol())\n">>,
    {ok, Reactor} = py_reactor_context:start_link(http_echo, Mode, #{setup_code => Setup,
                                                                    max_connections => 10000}),
    {ok, Listen} = gen_tcp:listen(Port, [binary, {active, false}, {reuseaddr, true}, {backlog, 1024}]),
    Acceptor = spawn_link(fun() -> accept(Listen, Reactor) end),
    {ok, #{kind => reactor, listen => Listen, reactor => Reactor, acceptor => Acceptor}}.

accept(Listen, Reactor) ->
    case gen_tcp:accept(Listen) of
        {ok, Socket} ->
            {ok, Fd} = inet:getfd(Socket),
            {ok, Peer} = inet:peername(Socket),
            _ = py_reactor_context:handoff(Reactor, Fd, #{peer => iolist_to_binary(io_lib:format("~p", [Peer]))}),
            %% The reactor serves its own copy of the descriptor.
            ok = gen_tcp:close(Socket),
            accept(Listen, Reactor);
        {error, closed} ->
            ok
    end.

%% @doc Listens on `Port' and lets `Workers' worker contexts (of `Mode')
%% accept and serve on that one socket with asyncio.
start_server(Port, Workers) ->
    start_server(Port, Workers, worker).

start_server(Port, Workers, Mode) ->
    ok = py:add_path(source_dir()),
    {ok, Listen} = gen_tcp:listen(Port, [binary, {active, false}, {reuseaddr, true}, {backlog, 1024}]),
    {ok, Fd} = inet:getfd(Listen),
    Contexts = [begin
                    {ok, Ctx} = py_context:new(#{mode => Mode}),
                    ok = py_context:start_loop(Ctx),
                    ok = py_context:exec(Ctx, <<"import erlang.server, http_echo\n"
                                                "servers = []\n"
                                                "async def serve(fd):\n"
                                                "    servers.append(await erlang.server.serve(fd, http_echo.AsyncioHttpEcho))\n"
                                                "    return True\n">>),
                    {ok, true} = py_context:submit_await(Ctx, '__main__', serve, [Fd], #{}, 10000),
                    Ctx
                end || _ <- lists:seq(1, Workers)],
    {ok, #{kind => server, listen => Listen, contexts => Contexts}}.

%% @doc The port a started front listens on.
port(#{listen := Listen}) ->
    {ok, Port} = inet:port(Listen),
    Port.

stop(#{kind := reactor, listen := Listen, reactor := Reactor}) ->
    gen_tcp:close(Listen),
    py_reactor_context:stop(Reactor);
stop(#{kind := server, listen := Listen, contexts := Contexts}) ->
    [begin py_context:stop_loop(Ctx), py_context:stop(Ctx) end || Ctx <- Contexts],
    gen_tcp:close(Listen).

source_dir() ->
    Candidates = [?HERE, "examples/http_echo"],
    hd([D || D <- Candidates, filelib:is_regular(filename:join(D, "http_echo.py"))] ++ Candidates).
