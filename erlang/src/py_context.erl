%% @doc A context: one Erlang process owning one Python execution context,
%% which runs on ONE dedicated OS thread for its whole life (so numpy and
%% torch, which keep thread-local state, always see the same thread).
%%
%% Modes: `worker' runs in the main interpreter (shared GIL); `owngil' runs
%% in a sub-interpreter with its own GIL (Python 3.12+), in parallel with
%% everything else and with its own `sys.modules'.
%%
%% Calls do not go through the context process: the caller hands its request
%% straight to the context thread (a NIF that only enqueues) and waits for
%% the reply message, monitoring the context process so that its death ends
%% the wait with `{error, {context_died, Reason}}'.
-module(py_context).
-behaviour(gen_server).

-export([new/1, start_link/2, start_link/3, stop/1, destroy/1]).
-export([call/4, call/5, call/6, eval/2, eval/3, eval/4, exec/2]).
-export([get_interp_id/1, is_subinterp/1, get_nif_ref/1, interrupt/1, info/1]).
-export([start_link/0, request/3, submit_and_wait/3, submit_call/7]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type mode() :: worker | owngil.
-type name() :: atom() | binary() | string().
-export_type([mode/0, name/0]).

-define(START_TIMEOUT, 30000).
-define(LATE_REPLY_WAIT, 1000).

%%% ---------------------------------------------------------------------
%%% Lifecycle
%%% ---------------------------------------------------------------------

%% @doc Starts a linked context with a unique id. Options: `mode'.
-spec new(map()) -> {ok, pid()} | {error, term()}.
new(Opts) when is_map(Opts) ->
    start_link(erlang:unique_integer([positive]), maps:get(mode, Opts, worker), Opts).

-spec start_link(term(), mode()) -> {ok, pid()} | {error, term()}.
start_link(Id, Mode) ->
    start_link(Id, Mode, #{}).

-spec start_link(term(), mode(), map()) -> {ok, pid()} | {error, term()}.
start_link(Id, Mode, Opts) when Mode =:= worker; Mode =:= owngil ->
    case gen_server:start_link(?MODULE, {Id, Mode, Opts}, [{timeout, ?START_TIMEOUT}]) of
        {error, {shutdown, Reason}} -> {error, Reason};
        Other -> Other
    end;
start_link(_Id, Mode, _Opts) ->
    {error, {invalid_mode, Mode}}.

%% @private Used by tests that start a default context directly.
start_link() ->
    start_link(erlang:unique_integer([positive]), worker).

%% @doc Stops the context; calls in flight get `{error, {context_died, _}}'.
-spec stop(pid()) -> ok.
stop(Ctx) ->
    try gen_server:stop(Ctx, normal, 5000)
    catch
        exit:noproc -> ok;
        exit:{noproc, _} -> ok;
        exit:timeout -> exit(Ctx, kill), ok
    end.

-spec destroy(pid()) -> ok.
destroy(Ctx) ->
    stop(Ctx).

%%% ---------------------------------------------------------------------
%%% Calls (run in the caller's process)
%%% ---------------------------------------------------------------------

%% @doc `Module.Function(*Args)' on this context, no timeout.
-spec call(pid(), name(), name(), list()) -> {ok, term()} | {error, term()}.
call(Ctx, Module, Function, Args) ->
    call(Ctx, Module, Function, Args, #{}, infinity).

-spec call(pid(), name(), name(), list(), map()) -> {ok, term()} | {error, term()}.
call(Ctx, Module, Function, Args, Kwargs) ->
    call(Ctx, Module, Function, Args, Kwargs, infinity).

-spec call(pid(), name(), name(), list(), map(), timeout()) -> {ok, term()} | {error, term()}.
call(Ctx, Module, Function, Args, Kwargs, Timeout) ->
    request(Ctx, Timeout, fun(Ref, Tag) ->
        submit_call(Ref, Tag, Module, Function, Args, Kwargs, #{})
    end).

%% @private Submits a call. Large arguments are lent to the context thread
%% from a dirty scheduler instead of being copied (the NIF answers `heavy').
submit_call(Ref, Tag, Module, Function, Args, Kwargs, Opts) ->
    case py_nif:context_call(Ref, Tag, Module, Function, Args, Kwargs, Opts) of
        heavy -> py_nif:context_call_heavy(Ref, Tag, Module, Function, Args, Kwargs, Opts);
        Submitted -> Submitted
    end.

%% @doc Evaluates a Python expression on this context, no timeout.
-spec eval(pid(), iodata()) -> {ok, term()} | {error, term()}.
eval(Ctx, Code) ->
    eval(Ctx, Code, #{}, infinity).

-spec eval(pid(), iodata(), map()) -> {ok, term()} | {error, term()}.
eval(Ctx, Code, Locals) ->
    eval(Ctx, Code, Locals, infinity).

-spec eval(pid(), iodata(), map(), timeout()) -> {ok, term()} | {error, term()}.
eval(Ctx, Code, Locals, Timeout) ->
    Source = source(Code),
    request(Ctx, Timeout, fun(Ref, Tag) -> py_nif:context_eval(Ref, Tag, Source, Locals, #{}) end).

%% @doc Executes Python statements on this context.
-spec exec(pid(), iodata()) -> ok | {error, term()}.
exec(Ctx, Code) ->
    Source = source(Code),
    request(Ctx, infinity, fun(Ref, Tag) -> py_nif:context_exec(Ref, Tag, Source, #{}) end).

%% @private Sends one request and waits for its reply. The monitor
%% reference doubles as the request tag. `{error, not_submitted, Reason}'
%% means the request never reached the context (safe to retry elsewhere);
%% the public functions turn it into `{error, {context_died, Reason}}'.
request(Ctx, Timeout, Submit) ->
    case submit_and_wait(Ctx, Timeout, Submit) of
        {error, not_submitted, Reason} -> {error, {context_died, Reason}};
        Result -> Result
    end.

%% @private Like request/3 but keeps the not_submitted marker.
submit_and_wait(Ctx, Timeout, Submit) when is_pid(Ctx) ->
    case get_nif_ref(Ctx) of
        {ok, Ref} ->
            Tag = erlang:monitor(process, Ctx),
            case Submit(Ref, Tag) of
                Seq when is_integer(Seq) ->
                    await(Ref, Tag, Seq, Timeout);
                {error, context_stopped} ->
                    erlang:demonitor(Tag, [flush]),
                    {error, not_submitted, stopped};
                {error, _} = Error ->
                    erlang:demonitor(Tag, [flush]),
                    Error
            end;
        error ->
            {error, not_submitted, noproc}
    end;
submit_and_wait(Ctx, _Timeout, _Submit) ->
    {error, {invalid_context, Ctx}}.

await(Ref, Tag, Seq, Timeout) ->
    receive
        {Tag, {py_etf, Encoded}} ->
            %% Values holding large maps travel encoded (see py-nif reply.rs).
            erlang:demonitor(Tag, [flush]),
            binary_to_term(Encoded);
        {Tag, Result} ->
            erlang:demonitor(Tag, [flush]),
            Result;
        {'DOWN', Tag, process, _, Reason} ->
            receive {Tag, _} -> ok after 0 -> ok end,
            {error, {context_died, Reason}}
    after Timeout ->
        _ = py_nif:context_interrupt(Ref, Seq),
        erlang:demonitor(Tag, [flush]),
        receive {Tag, _} -> ok after ?LATE_REPLY_WAIT -> ok end,
        {error, timeout}
    end.

source(Code) when is_binary(Code) -> Code;
source(Code) when is_list(Code) ->
    try unicode:characters_to_binary(Code) of
        Bin when is_binary(Bin) -> Bin;
        _ -> Code
    catch
        _:_ -> Code
    end;
source(Code) -> Code.

%%% ---------------------------------------------------------------------
%%% Queries
%%% ---------------------------------------------------------------------

%% @doc The NIF resource of a context (cached in the caller's dictionary).
-spec get_nif_ref(pid()) -> {ok, reference()} | error.
get_nif_ref(Ctx) ->
    case erlang:get({?MODULE, Ctx}) of
        undefined ->
            case py_context_registry:lookup(Ctx) of
                {ok, Ref} = Ok ->
                    _ = erlang:put({?MODULE, Ctx}, Ref),
                    Ok;
                error ->
                    error
            end;
        Ref ->
            {ok, Ref}
    end.

%% @doc The interpreter id: 0 for the main interpreter.
-spec get_interp_id(pid()) -> {ok, non_neg_integer()} | {error, term()}.
get_interp_id(Ctx) ->
    case py_context_registry:info(Ctx) of
        {ok, #{interp_id := Id}} -> {ok, Id};
        error -> {error, {context_died, noproc}}
    end.

-spec is_subinterp(pid()) -> boolean().
is_subinterp(Ctx) ->
    case get_interp_id(Ctx) of
        {ok, Id} -> Id > 0;
        _ -> false
    end.

%% @doc `#{interp_id, thread_id, mode}' of a context.
-spec info(pid()) -> {ok, map()} | {error, term()}.
info(Ctx) ->
    case get_nif_ref(Ctx) of
        {ok, Ref} -> {ok, py_nif:context_info(Ref)};
        error -> {error, {context_died, noproc}}
    end.

%% @doc Raises KeyboardInterrupt in the code running on the context; the
%% call in flight returns `{error, interrupted}'.
-spec interrupt(pid()) -> ok | not_running.
interrupt(Ctx) ->
    case get_nif_ref(Ctx) of
        {ok, Ref} -> py_nif:context_interrupt(Ref, all);
        error -> not_running
    end.

%%% ---------------------------------------------------------------------
%%% gen_server
%%% ---------------------------------------------------------------------

init({Id, Mode, _Opts}) ->
    process_flag(trap_exit, true),
    case py_nif:context_create(Mode) of
        {ok, Ref, InterpId} ->
            ok = py_context_registry:register(self(), Ref, #{id => Id, mode => Mode, interp_id => InterpId}),
            {ok, #{id => Id, mode => Mode, ref => Ref}};
        {error, Reason} ->
            {stop, {shutdown, Reason}}
    end.

handle_call(get_nif_ref, _From, #{ref := Ref} = State) ->
    {reply, {ok, Ref}, State};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info({'EXIT', _From, Reason}, State) when Reason =/= normal ->
    {stop, Reason, State};
handle_info(_Msg, State) ->
    {noreply, State}.

terminate(_Reason, #{ref := Ref}) ->
    ok = py_nif:context_destroy(Ref).
