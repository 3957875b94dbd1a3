%% @doc Owns the table that maps context pids to their NIF resources, so a
%% caller reaches a context's thread without a message hop. It monitors
%% every context: when one dies, however it dies, its entry goes and its
%% thread is told to stop, so nothing is left behind.
-module(py_context_registry).
-behaviour(gen_server).

-export([start_link/0, register/3, lookup/1, owner/1, info/1, all/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(TAB, py_contexts).
%% How often requests running longer than that get their caller watched
%% (so a dead caller's request is interrupted; see py-nif route.rs).
-define(WATCH_EVERY, 100).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Called by a context process once its thread runs.
-spec register(pid(), reference(), map()) -> ok.
register(Pid, NifRef, Info) ->
    gen_server:call(?MODULE, {register, Pid, NifRef, Info}).

%% @doc The NIF resource of a context.
-spec lookup(pid()) -> {ok, reference()} | error.
lookup(Pid) ->
    try ets:lookup_element(?TAB, Pid, 2) of
        Ref -> {ok, Ref}
    catch
        error:badarg -> error
    end.

%% @doc The context process of a NIF resource (a loop reference, say).
-spec owner(reference()) -> {ok, pid()} | error.
owner(NifRef) ->
    try ets:lookup_element(?TAB, NifRef, 2) of
        Pid -> {ok, Pid}
    catch
        error:badarg -> error
    end.

-spec info(pid()) -> {ok, map()} | error.
info(Pid) ->
    try ets:lookup_element(?TAB, Pid, 3) of
        Info -> {ok, Info}
    catch
        error:badarg -> error
    end.

-spec all() -> [pid()].
all() ->
    [P || {P, _, _} <- ets:tab2list(?TAB)].

init([]) ->
    _ = ets:new(?TAB, [named_table, protected, set, {read_concurrency, true}]),
    %% Which contexts run a worker loop, and its watcher (py_worker_loop).
    _ = ets:new(py_worker_loops, [named_table, public, set]),
    erlang:send_after(?WATCH_EVERY, self(), watch_callers),
    {ok, #{}}.

handle_call({register, Pid, NifRef, Info}, _From, State) ->
    MRef = erlang:monitor(process, Pid),
    true = ets:insert(?TAB, [{Pid, NifRef, Info}, {NifRef, Pid}]),
    {reply, ok, State#{MRef => {Pid, NifRef}}};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info({'DOWN', MRef, process, Pid, _Reason}, State) ->
    %% However the context process ended (killed, say), its thread is told
    %% to stop and its pid no longer finds it.
    ok = py_nif:context_forget(Pid),
    true = ets:delete(?TAB, Pid),
    {{Pid, NifRef}, Rest} = maps:take(MRef, State),
    true = ets:delete(?TAB, NifRef),
    {noreply, Rest};
handle_info(watch_callers, State) ->
    ok = py_nif:watch_callers(?WATCH_EVERY),
    erlang:send_after(?WATCH_EVERY, self(), watch_callers),
    {noreply, State};
handle_info(_Msg, State) ->
    {noreply, State}.
