%% Starts, calls Python, prints what it got and which libpython the VM
%% runs, and stops the node: a release of it checks itself when booted.
-module(consumer).
-behaviour(application).

-export([start/2, stop/1, check/0]).

start(_Type, _Args) ->
    case os:getenv("CONSUMER_CHECK") of
        false -> ok;
        _ -> spawn(fun() -> check(), init:stop() end)
    end,
    {ok, self()}.

stop(_State) ->
    ok.

%% Prints `consumer: {ok,1.4142135623730951}' and the libpython mapped.
check() ->
    io:format("consumer: ~p~n", [py:call(math, sqrt, [2.0])]),
    io:format("consumer: ~p~n", [py:eval(<<"sum(x * x for x in range(n))">>, #{n => 10})]),
    {ok, Maps} = file:read_file("/proc/self/maps"),
    Libs = lists:usort([L || Line <- binary:split(Maps, <<"\n">>, [global]),
                             [_, _, _, _, _, L] <- [string:lexemes(Line, " ")],
                             binary:match(L, <<"libpython">>) =/= nomatch]),
    [io:format("consumer: libpython ~s~n", [L]) || L <- Libs],
    ok.
