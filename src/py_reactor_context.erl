%% @doc A context that serves connections handed over from Erlang with
%% `erlang.reactor' protocols, on its event loop.
%%
%% Erlang accepts (gen_tcp, gen_udp, socket) and hands each connection's
%% file descriptor over with `handoff/2,3': the reactor serves a copy of it
%% (the caller may close its own), creating a protocol with the factory set
%% by `reactor.set_protocol_factory' (for instance in `setup_code'). The
%% context's event loop watches each descriptor and acts on the action
%% words the protocol returns (see docs/serving.md); stopping the reactor
%% closes the connections it serves.
%% `handoff/2' uses the default reactor context the application starts
%% (registered as `py_reactor_context_default', worker mode).
-module(py_reactor_context).
-behaviour(gen_server).

-export([start_link/2, start_link/3, handoff/2, handoff/3, stats/1, stop/1, context/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(DEFAULT, py_reactor_context_default).

%% @doc Options: `max_connections' (default 100), `setup_code' (Python run
%% in the context first), `name' (register the server under it).
-spec start_link(term(), py_context:mode()) -> {ok, pid()} | {error, term()}.
start_link(Id, Mode) ->
    start_link(Id, Mode, #{}).

-spec start_link(term(), py_context:mode(), map()) -> {ok, pid()} | {error, term()}.
start_link(Id, Mode, Opts) ->
    case maps:get(name, Opts, undefined) of
        undefined -> gen_server:start_link(?MODULE, {Id, Mode, Opts}, []);
        Name -> gen_server:start_link({local, Name}, ?MODULE, {Id, Mode, Opts}, [])
    end.

%% @doc Hands a connected descriptor to the default reactor context.
-spec handoff(non_neg_integer(), map()) -> ok | {error, term()}.
handoff(Fd, ClientInfo) ->
    case whereis(?DEFAULT) of
        undefined -> {error, no_reactor_context};
        Pid -> handoff(Pid, Fd, ClientInfo)
    end.

%% @doc Hands a connected descriptor to reactor `Reactor'; it serves a copy
%% (`{error, max_connections}' when full).
-spec handoff(pid() | atom(), non_neg_integer(), map()) -> ok | {error, term()}.
handoff(Reactor, Fd, ClientInfo) ->
    {Ctx, Max} = gen_server:call(Reactor, target),
    case py_nif:dup_fd(Fd) of
        {ok, Copy} ->
            case py_context:call(Ctx, 'erlang.reactor', '_handoff', [Copy, ClientInfo, Max], #{}, 30000) of
                {ok, <<"ok">>} -> ok;
                {ok, <<"max_connections">>} -> {error, max_connections};
                {error, _} = Error -> Error
            end;
        Error ->
            Error
    end.

%% @doc `#{id, active_connections, total_connections, total_requests,
%% max_connections}'.
-spec stats(pid() | atom()) -> map().
stats(Reactor) ->
    {Ctx, Max} = gen_server:call(Reactor, target),
    Id = gen_server:call(Reactor, id),
    {ok, Stats} = py_context:call(Ctx, 'erlang.reactor', stats, [], #{}, 30000),
    maps:merge(#{id => Id, max_connections => Max},
               maps:from_list([{binary_to_atom(K), V} || {K, V} <- maps:to_list(Stats)])).

%% @doc The context the reactor runs on.
-spec context(pid() | atom()) -> pid().
context(Reactor) ->
    element(1, gen_server:call(Reactor, target)).

-spec stop(pid() | atom()) -> ok.
stop(Reactor) ->
    gen_server:stop(Reactor).

%%% ---------------------------------------------------------------------

init({Id, Mode, Opts}) ->
    process_flag(trap_exit, true),
    case py_context:new(#{mode => Mode}) of
        {ok, Ctx} ->
            Setup = case maps:get(setup_code, Opts, undefined) of
                        undefined -> ok;
                        Code -> py_context:exec(Ctx, Code)
                    end,
            case {Setup, py_context:start_loop(Ctx, #{owner => self()})} of
                {ok, ok} ->
                    {ok, #{id => Id, ctx => Ctx, max => maps:get(max_connections, Opts, 100)}};
                {SetupResult, LoopResult} ->
                    _ = py_context:stop(Ctx),
                    {stop, {reactor_start_failed, SetupResult, LoopResult}}
            end;
        {error, Reason} ->
            {stop, Reason}
    end.

handle_call(target, _From, #{ctx := Ctx, max := Max} = S) ->
    {reply, {Ctx, Max}, S};
handle_call(id, _From, #{id := Id} = S) ->
    {reply, Id, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({py_loop_exit, Ctx, Result}, #{ctx := Ctx} = S) ->
    {stop, {loop_exited, Result}, S};
handle_info({'EXIT', Ctx, Reason}, #{ctx := Ctx} = S) ->
    {stop, {context_died, Reason}, S};
handle_info(_Msg, S) ->
    {noreply, S}.

terminate(_Reason, #{ctx := Ctx}) ->
    %% The connections it serves end with it (their descriptors are the
    %% reactor's copies).
    _ = (catch py_context:call(Ctx, 'erlang.reactor', '_shutdown', [], #{}, 5000)),
    _ = py_context:stop_loop(Ctx, 1000),
    py_context:stop(Ctx).
