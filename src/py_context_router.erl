%% @doc Pools of contexts and the routing of calls to them.
%%
%% A pool is a fixed-size tuple of context pids kept in `persistent_term'
%% (read without copying on every call). The first call from an Erlang
%% process picks the pool's next context in turn and sticks to it (stored in
%% the process dictionary), so one process's calls run in order on one
%% thread, and new processes spread evenly over the pool. (The C library
%% picks by scheduler id; processes spawned together usually share a
%% scheduler and so ended up serialised on one context.)
%% This server starts pools, watches their contexts and replaces any that
%% die, so a pool keeps its size.
-module(py_context_router).
-behaviour(gen_server).

-export([start/0, start/1, stop/0, is_started/0]).
-export([start_pool/2, start_pool/3, stop_pool/1, pool_started/1]).
-export([get_context/0, get_context/1, bind_context/1, bind_context/2,
         unbind_context/0, unbind_context/1, num_contexts/0, num_contexts/1,
         contexts/0, contexts/1, forget_context/1, context_for_call/1]).
-export([register_pool/2, register_pool/3, unregister_pool/1, unregister_pool/2,
         lookup_pool/2, list_pool_registrations/0]).
-export([start_default_link/0, init_pool_registry/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(KEY(Pool), {?MODULE, pool, Pool}).

%% @doc No-op kept for code written for the C library, which sets up the
%% pool registry at boot: here it needs no set-up (an empty registry is
%% the absence of entries in `persistent_term').
-spec init_pool_registry() -> ok.
init_pool_registry() ->
    ok.
-define(BOUND(Pool), {?MODULE, bound, Pool}).
-define(REGISTRY, {?MODULE, registry}).
-define(TURN(Pool), {?MODULE, turn, Pool}).

%%% ---------------------------------------------------------------------
%%% Pools
%%% ---------------------------------------------------------------------

%% @private Started by the application supervisor; starts the default pool.
start_default_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Starts the default pool (or returns the running one).
-spec start() -> {ok, [pid()]} | {error, term()}.
start() ->
    start(#{}).

-spec start(map()) -> {ok, [pid()]} | {error, term()}.
start(Opts) ->
    Size = maps:get(contexts, Opts, default_size()),
    Mode = maps:get(mode, Opts, application:get_env(erlang_python, context_mode, worker)),
    start_pool(default, Size, Mode).

-spec stop() -> ok.
stop() ->
    stop_pool(default).

-spec is_started() -> boolean().
is_started() ->
    pool_started(default).

-spec start_pool(atom(), pos_integer()) -> {ok, [pid()]} | {error, term()}.
start_pool(Pool, Size) ->
    start_pool(Pool, Size, worker).

%% @doc Starts a named pool of `Size' contexts (idempotent while alive).
-spec start_pool(atom(), pos_integer(), py_context:mode()) -> {ok, [pid()]} | {error, term()}.
start_pool(Pool, Size, Mode) when is_atom(Pool), is_integer(Size), Size > 0 ->
    gen_server:call(?MODULE, {start_pool, Pool, Size, Mode}, infinity);
start_pool(Pool, Size, _Mode) ->
    {error, {badarg, {Pool, Size}}}.

-spec stop_pool(atom()) -> ok.
stop_pool(Pool) ->
    gen_server:call(?MODULE, {stop_pool, Pool}, infinity).

-spec pool_started(atom()) -> boolean().
pool_started(Pool) ->
    persistent_term:get(?KEY(Pool), undefined) =/= undefined.

%%% ---------------------------------------------------------------------
%%% Routing (in the caller's process)
%%% ---------------------------------------------------------------------

%% @doc The caller's context in the default pool (bound, or picked
%% round-robin, then sticky).
-spec get_context() -> pid().
get_context() ->
    get_context(default).

%% @doc An integer picks the N-th context of the default pool; an atom
%% names a pool.
-spec get_context(pos_integer() | atom()) -> pid().
get_context(N) when is_integer(N) ->
    element(N, pool_tuple(default));
get_context(Pool) when is_atom(Pool) ->
    case erlang:get(?BOUND(Pool)) of
        undefined ->
            pick_context(Pool);
        Pid ->
            %% A context that ended (its pool was stopped and started
            %% again, say) is replaced by a live one.
            case is_process_alive(Pid) of
                true -> Pid;
                false -> pick_context(Pool)
            end
    end.

%% @private The caller's context of `Pool' for a call, without the
%% liveness check of get_context/1 (`is_process_alive/1' of another
%% process is a signal round trip, about a microsecond): a call that
%% finds its context dead is not submitted, and py_call retries it on a
%% fresh one after forget_context/1.
-spec context_for_call(atom()) -> pid().
context_for_call(Pool) ->
    case erlang:get(?BOUND(Pool)) of
        undefined -> pick_context(Pool);
        Pid -> Pid
    end.

pick_context(Pool) ->
    Pids = pool_tuple(Pool),
    Turn = atomics:add_get(persistent_term:get(?TURN(Pool)), 1, 1),
    Pid = element(Turn rem tuple_size(Pids) + 1, Pids),
    _ = erlang:put(?BOUND(Pool), Pid),
    Pid.

%% @private Drops a sticky binding that points at a dead context.
-spec forget_context(atom()) -> ok.
forget_context(Pool) ->
    _ = erlang:erase(?BOUND(Pool)),
    ok.

-spec bind_context(pid()) -> ok.
bind_context(Ctx) ->
    bind_context(default, Ctx).

-spec bind_context(atom(), pid()) -> ok.
bind_context(Pool, Ctx) when is_pid(Ctx) ->
    _ = erlang:put(?BOUND(Pool), Ctx),
    ok.

-spec unbind_context() -> ok.
unbind_context() ->
    unbind_context(default).

-spec unbind_context(atom()) -> ok.
unbind_context(Pool) ->
    forget_context(Pool).

-spec num_contexts() -> non_neg_integer().
num_contexts() ->
    num_contexts(default).

-spec num_contexts(atom()) -> non_neg_integer().
num_contexts(Pool) ->
    case persistent_term:get(?KEY(Pool), undefined) of
        undefined -> 0;
        Pids -> tuple_size(Pids)
    end.

-spec contexts() -> [pid()].
contexts() ->
    contexts(default).

-spec contexts(atom()) -> [pid()].
contexts(Pool) ->
    case persistent_term:get(?KEY(Pool), undefined) of
        undefined -> [];
        Pids -> tuple_to_list(Pids)
    end.

%%% ---------------------------------------------------------------------
%%% Which pool serves which module or function
%%% ---------------------------------------------------------------------

%% @doc Routes calls to `Module' (`{Module, Function}': to that function) to
%% `Pool'. Function registrations win over module ones.
-spec register_pool(atom(), atom() | {atom(), atom()}) -> ok.
register_pool(Pool, {Module, Function}) ->
    register_pool(Pool, Module, Function);
register_pool(Pool, Module) when is_atom(Pool), is_atom(Module) ->
    update_registry(fun(R) -> R#{{Module, '_'} => Pool} end).

-spec register_pool(atom(), atom(), atom()) -> ok.
register_pool(Pool, Module, Function) when is_atom(Pool), is_atom(Module), is_atom(Function) ->
    update_registry(fun(R) -> R#{{Module, Function} => Pool} end).

-spec unregister_pool(atom() | {atom(), atom()}) -> ok.
unregister_pool({Module, Function}) ->
    unregister_pool(Module, Function);
unregister_pool(Module) when is_atom(Module) ->
    update_registry(fun(R) -> maps:remove({Module, '_'}, R) end).

-spec unregister_pool(atom(), atom()) -> ok.
unregister_pool(Module, Function) ->
    update_registry(fun(R) -> maps:remove({Module, Function}, R) end).

%% @doc The pool serving `Module:Function': the function's registration,
%% else the module's, else `default'. Names may be atoms, binaries or
%% strings (no atoms are created for unknown names).
-spec lookup_pool(py_context:name(), py_context:name()) -> atom().
lookup_pool(Module, Function) ->
    case persistent_term:get(?REGISTRY, #{}) of
        Registry when map_size(Registry) =:= 0 ->
            default;
        Registry ->
            M = existing_atom(Module),
            case maps:find({M, existing_atom(Function)}, Registry) of
                {ok, Pool} -> Pool;
                error -> maps:get({M, '_'}, Registry, default)
            end
    end.

-spec list_pool_registrations() -> [{{atom(), atom()}, atom()}].
list_pool_registrations() ->
    lists:sort(maps:to_list(persistent_term:get(?REGISTRY, #{}))).

update_registry(F) ->
    gen_server:call(?MODULE, {update_registry, F}).

existing_atom(A) when is_atom(A) -> A;
existing_atom(B) when is_binary(B) ->
    try binary_to_existing_atom(B) catch error:badarg -> undefined end;
existing_atom(L) when is_list(L) ->
    try list_to_existing_atom(L) catch error:badarg -> undefined end;
existing_atom(_) -> undefined.

pool_tuple(Pool) ->
    case persistent_term:get(?KEY(Pool), undefined) of
        undefined -> erlang:error({pool_not_started, Pool});
        Pids -> Pids
    end.

default_size() ->
    case application:get_env(erlang_python, num_contexts, default) of
        N when is_integer(N), N > 0 -> N;
        _ -> erlang:system_info(schedulers)
    end.

%%% ---------------------------------------------------------------------
%%% gen_server: owns the pools, replaces contexts that die
%%% ---------------------------------------------------------------------

init([]) ->
    process_flag(trap_exit, true),
    State0 = #{pools => #{}, monitors => #{}},
    Mode = application:get_env(erlang_python, context_mode, worker),
    case do_start_pool(default, default_size(), Mode, State0) of
        {ok, _Pids, State} -> {ok, State};
        {error, Reason, _} -> {stop, Reason}
    end.

handle_call({start_pool, Pool, Size, Mode}, _From, State) ->
    case do_start_pool(Pool, Size, Mode, State) of
        {ok, Pids, State1} -> {reply, {ok, Pids}, State1};
        {error, Reason, State1} -> {reply, {error, Reason}, State1}
    end;
handle_call({stop_pool, Pool}, _From, State) ->
    {reply, ok, do_stop_pool(Pool, State)};
handle_call({update_registry, F}, _From, State) ->
    persistent_term:put(?REGISTRY, F(persistent_term:get(?REGISTRY, #{}))),
    {reply, ok, State};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info({'DOWN', MRef, process, _Pid, _Reason}, #{monitors := Mons} = State) ->
    case maps:take(MRef, Mons) of
        {{Pool, Idx}, Mons1} -> {noreply, replace(Pool, Idx, State#{monitors := Mons1})};
        error -> {noreply, State}
    end;
handle_info(_Msg, State) ->
    {noreply, State}.

do_start_pool(Pool, Size, Mode, #{pools := Pools} = State) ->
    case maps:find(Pool, Pools) of
        {ok, _} ->
            {ok, contexts(Pool), State};
        error ->
            case start_contexts(Pool, Size, Mode, 1, []) of
                {ok, Pids} ->
                    Mons = lists:foldl(
                             fun({Idx, Pid}, Acc) -> Acc#{erlang:monitor(process, Pid) => {Pool, Idx}} end,
                             maps:get(monitors, State),
                             lists:zip(lists:seq(1, Size), Pids)),
                    case persistent_term:get(?TURN(Pool), undefined) of
                        undefined -> persistent_term:put(?TURN(Pool), atomics:new(1, []));
                        _ -> ok
                    end,
                    persistent_term:put(?KEY(Pool), list_to_tuple(Pids)),
                    {ok, Pids, State#{pools := Pools#{Pool => #{mode => Mode, size => Size}},
                                      monitors := Mons}};
                {error, Reason} ->
                    {error, Reason, State}
            end
    end.

start_contexts(_Pool, Size, _Mode, N, Acc) when N > Size ->
    {ok, lists:reverse(Acc)};
start_contexts(Pool, Size, Mode, N, Acc) ->
    case py_context_sup:start_context({Pool, N}, Mode) of
        {ok, Pid} ->
            start_contexts(Pool, Size, Mode, N + 1, [Pid | Acc]);
        {error, Reason} ->
            [py_context_sup:stop_context(P) || P <- Acc],
            {error, {context_start_failed, Pool, N, Reason}}
    end.

do_stop_pool(Pool, #{pools := Pools, monitors := Mons} = State) ->
    case maps:is_key(Pool, Pools) of
        false ->
            State;
        true ->
            Pids = contexts(Pool),
            Mons1 = maps:filter(
                      fun(MRef, {P, _}) when P =:= Pool -> erlang:demonitor(MRef, [flush]), false;
                         (_, _) -> true
                      end, Mons),
            _ = persistent_term:erase(?KEY(Pool)),
            [py_context_sup:stop_context(P) || P <- Pids],
            State#{pools := maps:remove(Pool, Pools), monitors := Mons1}
    end.

%% A pool context died: start a replacement in the same slot.
replace(Pool, Idx, #{pools := Pools, monitors := Mons} = State) ->
    case maps:find(Pool, Pools) of
        {ok, #{mode := Mode}} ->
            case py_context_sup:start_context({Pool, Idx}, Mode) of
                {ok, Pid} ->
                    Pids = setelement(Idx, pool_tuple(Pool), Pid),
                    persistent_term:put(?KEY(Pool), Pids),
                    State#{monitors := Mons#{erlang:monitor(process, Pid) => {Pool, Idx}}};
                {error, Reason} ->
                    logger:error("py_context_router: cannot replace context ~p of pool ~p: ~p",
                                 [Idx, Pool, Reason]),
                    State
            end;
        error ->
            State
    end.
