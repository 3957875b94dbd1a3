%% @doc A pool of event loops with per-process affinity: each Erlang process
%% always submits to the same loop (`phash2(self()) rem N'), so its tasks
%% start in the order it submits them. Same calls as `py_event_loop'.
%%
%% Size `event_loop_pool_size' (default: the number of schedulers); with
%% `event_loop_pool_owngil = true' each loop runs in its own sub-interpreter
%% with its own GIL (Python 3.12+), so CPU-bound tasks run in parallel.
-module(py_event_loop_pool).
-behaviour(gen_server).

-export([start_link/0, start_link/1, stop/0, get_loop/0, create_task/3, create_task/4,
         run/3, run/4, await/1, await/2, spawn_task/3, spawn_task/4, exec/1, exec/2,
         eval/1, eval/2, get_stats/0, get_all_loops/0, is_owngil_enabled/0,
         get_all_sessions/0, run_async/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(LOOPS, {?MODULE, loops}).
%% Sessions: `{{Caller, LoopRef}}' for every process that has used a loop
%% of the pool, until it ends.
-define(SESSIONS, py_event_loop_pool_sessions).

%%% ---------------------------------------------------------------------
%%% API
%%% ---------------------------------------------------------------------

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    start_link(#{size => application:get_env(erlang_python, event_loop_pool_size,
                                             erlang:system_info(schedulers)),
                 owngil => application:get_env(erlang_python, event_loop_pool_owngil, false)}).

-spec start_link(#{size => pos_integer(), owngil => boolean()}) -> {ok, pid()} | {error, term()}.
start_link(Opts) ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, Opts, []).

-spec stop() -> ok.
stop() ->
    gen_server:stop(?MODULE).

%% @doc The calling process's loop (its reference).
-spec get_loop() -> {ok, reference()} | {error, not_available}.
get_loop() ->
    case persistent_term:get(?LOOPS, {}) of
        {} ->
            {error, not_available};
        Loops ->
            {_Pid, Ref} = element(erlang:phash2(self(), tuple_size(Loops)) + 1, Loops),
            note_session(Ref),
            {ok, Ref}
    end.

%% A process's first use of a loop opens its session there.
note_session(Ref) ->
    Key = {self(), Ref},
    case ets:info(?SESSIONS, size) =/= undefined andalso ets:insert_new(?SESSIONS, {Key}) of
        true -> gen_server:cast(?MODULE, {session, self()});
        false -> ok
    end.

%% @doc The sessions held: `{CallerPid, LoopRef}' for every live process
%% that has used a loop of the pool (its namespace there lives as long as
%% it does).
-spec get_all_sessions() -> [{pid(), reference()}].
get_all_sessions() ->
    %% The pool drops a session when it hears of its process's end; one
    %% whose end it has not heard of yet is not held any more either.
    try [Key || {{Caller, _} = Key} <- ets:tab2list(?SESSIONS), is_process_alive(Caller)]
    catch error:badarg -> []
    end.

%% @doc `py_event_loop:run_async/2' on the caller's loop.
-spec run_async(map()) -> ok | {error, term()}.
run_async(Request) ->
    case get_loop() of
        {ok, Loop} -> py_event_loop:run_async(Loop, Request);
        {error, _} -> {error, event_loop_not_available}
    end.

-spec create_task(py_call:name(), py_call:name(), list()) -> reference().
create_task(Module, Function, Args) ->
    create_task(Module, Function, Args, #{}).

-spec create_task(py_call:name(), py_call:name(), list(), map()) -> reference().
create_task(Module, Function, Args, Kwargs) ->
    Ref = py_nif:reply_gate(),
    _ = case get_loop() of
            {ok, Loop} -> py_loop:submit(Loop, Ref, Module, Function, Args, Kwargs);
            {error, Reason} -> self() ! {async_result, Ref, {error, Reason}}
        end,
    Ref.

-spec run(py_call:name(), py_call:name(), list()) -> {ok, term()} | {error, term()}.
run(Module, Function, Args) ->
    run(Module, Function, Args, #{}).

-spec run(py_call:name(), py_call:name(), list(), map()) -> {ok, term()} | {error, term()}.
run(Module, Function, Args, Opts) ->
    Ref = create_task(Module, Function, Args, maps:get(kwargs, Opts, #{})),
    await(Ref, maps:get(timeout, Opts, 5000)).

-spec await(reference()) -> {ok, term()} | {error, term()}.
await(Ref) ->
    py_loop:await(Ref).

-spec await(reference(), timeout()) -> {ok, term()} | {error, term()}.
await(Ref, Timeout) ->
    py_loop:await(Ref, Timeout).

-spec spawn_task(py_call:name(), py_call:name(), list()) -> ok.
spawn_task(Module, Function, Args) ->
    spawn_task(Module, Function, Args, #{}).

-spec spawn_task(py_call:name(), py_call:name(), list(), map()) -> ok.
spawn_task(Module, Function, Args, Kwargs) ->
    case get_loop() of
        {ok, Loop} -> _ = py_loop:submit(Loop, undefined, Module, Function, Args, Kwargs), ok;
        {error, _} -> ok
    end.

-spec exec(iodata()) -> ok | {error, term()}.
exec(Code) ->
    with_loop(fun(Loop) -> py_event_loop:exec(Loop, Code) end).

-spec exec(py_event_loop:loop(), iodata()) -> ok | {error, term()}.
exec(Loop, Code) ->
    py_event_loop:exec(Loop, Code).

-spec eval(iodata()) -> {ok, term()} | {error, term()}.
eval(Code) ->
    with_loop(fun(Loop) -> py_event_loop:eval(Loop, Code) end).

-spec eval(py_event_loop:loop(), iodata()) -> {ok, term()} | {error, term()}.
eval(Loop, Code) ->
    py_event_loop:eval(Loop, Code).

%% @doc `#{num_loops, supported, owngil_enabled}'; in own-GIL mode also
%% `active_sessions' (caller/loop sessions held) and `pool_stats' (per
%% loop: its reference, context and sessions).
-spec get_stats() -> map().
get_stats() ->
    Loops = tuple_to_list(persistent_term:get(?LOOPS, {})),
    Stats = #{num_loops => length(Loops),
              supported => true,
              owngil_enabled => is_owngil_enabled()},
    case is_owngil_enabled() of
        false ->
            Stats;
        true ->
            Sessions = get_all_sessions(),
            PerLoop = [#{loop => Ref, context => Pid,
                         sessions => length([S || {_, R} = S <- Sessions, R =:= Ref])}
                       || {Pid, Ref} <- Loops],
            Stats#{active_sessions => length(Sessions), pool_stats => PerLoop}
    end.

-spec get_all_loops() -> {ok, [{reference(), pid()}]}.
get_all_loops() ->
    {ok, [{Ref, Pid} || {Pid, Ref} <- tuple_to_list(persistent_term:get(?LOOPS, {}))]}.

-spec is_owngil_enabled() -> boolean().
is_owngil_enabled() ->
    persistent_term:get({?MODULE, owngil}, false).

%%% ---------------------------------------------------------------------
%%% Server: owns the loops' contexts and restarts loops that end
%%% ---------------------------------------------------------------------

init(#{size := Size, owngil := OwnGil}) ->
    process_flag(trap_exit, true),
    Mode = case OwnGil andalso py_nif:subinterp_supported() of
               true -> owngil;
               false -> worker
           end,
    Started = [start_one(Mode) || _ <- lists:seq(1, Size)],
    case [E || {error, _} = E <- Started] of
        [] ->
            Loops = [{Loop, Tag} || {ok, Loop, Tag} <- Started],
            Handles = [{L, H} || {L, _} <- Loops, {ok, H} <- [py_loop:handle(L)]],
            _ = ets:new(?SESSIONS, [named_table, public, set]),
            persistent_term:put(?LOOPS, list_to_tuple(Handles)),
            persistent_term:put({?MODULE, owngil}, Mode =:= owngil),
            {ok, #{loops => maps:from_list(Loops), mode => Mode}};
        [Error | _] ->
            _ = [py_context:stop(L) || {ok, L, _} <- Started],
            {stop, Error}
    end.

handle_call(_Request, _From, State) ->
    {reply, {error, unknown_request}, State}.

handle_cast({session, Caller}, State) ->
    _ = monitor(process, Caller),
    {noreply, State};
handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info({Tag, Result}, #{loops := Loops} = State) when is_reference(Tag) ->
    case [L || {L, T} <- maps:to_list(Loops), T =:= Tag] of
        [Loop] ->
            logger:warning(#{what => event_loop_ended, result => Result},
                           #{domain => [erlang_python]}),
            case py_loop:start_loop(Loop) of
                {ok, NewTag} -> {noreply, State#{loops := Loops#{Loop := NewTag}}};
                Error -> {stop, Error, State}
            end;
        [] ->
            {noreply, State}
    end;
handle_info({'DOWN', _Mon, process, Caller, _}, State) ->
    true = ets:match_delete(?SESSIONS, {{Caller, '_'}}),
    {noreply, State};
handle_info({'EXIT', Pid, Reason}, #{loops := Loops} = State) when is_map_key(Pid, Loops) ->
    {stop, {loop_context_died, Reason}, State};
handle_info(_Info, State) ->
    {noreply, State}.

terminate(_Reason, #{loops := Loops}) ->
    persistent_term:erase(?LOOPS),
    _ = [py_event_loop:stop_loop(L, T) || {L, T} <- maps:to_list(Loops)],
    ok;
terminate(_Reason, _State) ->
    ok.

start_one(Mode) ->
    case py_context:start_link({?MODULE, make_ref()}, Mode) of
        {ok, Loop} ->
            case py_loop:start_loop(Loop) of
                {ok, Tag} -> {ok, Loop, Tag};
                Error -> _ = py_context:stop(Loop), Error
            end;
        Error ->
            Error
    end.

with_loop(Fun) ->
    case get_loop() of
        {ok, Loop} -> Fun(Loop);
        Error -> Error
    end.
