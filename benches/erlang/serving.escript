#!/usr/bin/env escript
%%! +S 2
%% Serving HTTP/1.1 keep-alive echo requests from Python inside the VM
%% (examples/http_echo), next to the same asyncio protocol served by plain
%% asyncio in a separate Python process ($PYTHON, else python3), all over
%% loopback with the same Erlang client:
%%   * keep-alive: 50 connections x 400 requests, requests/s;
%%   * connections: 50 clients x 40 connect-request-close, connections/s;
%% for erlang.server (one worker context, and two), the reactor (Erlang
%% accepts and hands over), and plain asyncio. Median of 3 runs each.
%% Usage: escript benches/erlang/serving.escript [EbinDir]
-mode(compile).

-define(REQUEST, <<"POST /echo HTTP/1.1\r\nHost: bench\r\nContent-Length: 5\r\n\r\nhello">>).
-define(CLOSE_REQUEST, <<"POST /echo HTTP/1.1\r\nHost: bench\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello">>).
-define(RESPONSE, <<"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello">>).

main(Args) ->
    Ebin = case Args of
               [Dir] -> Dir;
               [] -> "_build/default/lib/erlang_python/ebin"
           end,
    true = code:add_patha(Ebin),
    {ok, _} = application:ensure_all_started(erlang_python),
    Example = filename:join([filename:dirname(escript:script_name()), "..", "..", "examples", "http_echo"]),
    {ok, http_echo, Bin} = compile:file(filename:join(Example, "http_echo.erl"), [binary]),
    {module, http_echo} = code:load_binary(http_echo, "http_echo.erl", Bin),
    ok = py:add_path(filename:absname(Example)),
    Plain = start_plain(filename:join(Example, "http_echo.py")),
    {ok, Server1} = http_echo:start_server(0, 1),
    Mode = case py:subinterp_supported() of true -> owngil; false -> worker end,
    {ok, Server2} = http_echo:start_server(0, 2, Mode),
    {ok, Reactor} = http_echo:start_reactor(0),
    Targets = [{"plain asyncio, separate python process", plain_port(Plain)},
               {"erlang.server, 1 worker context", http_echo:port(Server1)},
               {io_lib:format("erlang.server, 2 ~p contexts", [Mode]), http_echo:port(Server2)},
               {"reactor (Erlang accepts, hands over)", http_echo:port(Reactor)}],
    [begin
         KeepAlive = median([keep_alive(Port, 50, 400) || _ <- [1, 2, 3]]),
         Conns = median([connections(Port, 50, 40) || _ <- [1, 2, 3]]),
         io:format("~-44s ~9w keep-alive req/s ~8w conn/s~n", [Label, round(KeepAlive), round(Conns)])
     end || {Label, Port} <- Targets],
    stop_plain(Plain),
    halt(0).

start_plain(Script) ->
    Python = case os:getenv("PYTHON") of false -> os:find_executable("python3"); P -> P end,
    Port = open_port({spawn_executable, Python}, [{args, [Script, "0"]}, {line, 256}, binary, exit_status]),
    receive
        {Port, {data, {eol, <<"ready ", N/binary>>}}} -> {Port, binary_to_integer(N)}
    after 20000 ->
        io:format("plain asyncio server did not start~n"),
        halt(1)
    end.

plain_port({_, N}) -> N.

stop_plain({Port, _}) ->
    {os_pid, Pid} = erlang:port_info(Port, os_pid),
    os:cmd("kill " ++ integer_to_list(Pid)),
    catch port_close(Port).

keep_alive(Port, Conns, Requests) ->
    Conns * Requests / run_clients(Conns, fun() ->
        {ok, S} = gen_tcp:connect("127.0.0.1", Port, [binary, {active, false}, {nodelay, true}]),
        [begin ok = gen_tcp:send(S, ?REQUEST), {ok, ?RESPONSE} = gen_tcp:recv(S, byte_size(?RESPONSE), 10000) end
         || _ <- lists:seq(1, Requests)],
        gen_tcp:close(S)
    end).

connections(Port, Clients, Each) ->
    Clients * Each / run_clients(Clients, fun() ->
        [begin
             {ok, S} = gen_tcp:connect("127.0.0.1", Port, [binary, {active, false}, {nodelay, true}]),
             ok = gen_tcp:send(S, ?CLOSE_REQUEST),
             {ok, <<"HTTP/1.1 200 OK", _/binary>>} = recv_all(S, <<>>),
             gen_tcp:close(S)
         end || _ <- lists:seq(1, Each)]
    end).

recv_all(S, Acc) ->
    case gen_tcp:recv(S, 0, 10000) of
        {ok, Data} -> recv_all(S, <<Acc/binary, Data/binary>>);
        {error, closed} -> {ok, Acc}
    end.

%% Seconds for `N' processes running `F' at once.
run_clients(N, F) ->
    Self = self(),
    T0 = erlang:monotonic_time(microsecond),
    Pids = [spawn_link(fun() -> F(), Self ! {done, self()} end) || _ <- lists:seq(1, N)],
    [receive {done, P} -> ok end || P <- Pids],
    (erlang:monotonic_time(microsecond) - T0) / 1.0e6.

median(L) -> lists:nth((length(L) + 1) div 2, lists:sort(L)).
