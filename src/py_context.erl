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

-export([new/1, start_link/2, start_link/3, stop/1, stop/2, destroy/1]).
-export([call/4, call/5, call/6, call/7, eval/2, eval/3, eval/4, eval/5, exec/2, exec/3]).
-export([call_method/4, to_term/1]).
-export([start_loop/1, start_loop/2, stop_loop/1, stop_loop/2, loop_ref/1, submit/4, submit/5,
         submit_await/4, submit_await/5, submit_await/6]).
-export([get_interp_id/1, is_subinterp/1, get_nif_ref/1, interrupt/1, info/1,
         create_local_env/1, local_env/1]).
-export([extend_erlang_module_in_context/1]).
-export([start_link/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type mode() :: worker | owngil.
-type name() :: py_call:name().
-type env_ref() :: py_call:env_ref().
-type deadline() :: py_call:deadline().
-export_type([mode/0, name/0, env_ref/0, deadline/0]).

-define(START_TIMEOUT, 30000).
%% How long stop/1 lets the context's code end (see stop/2).
-define(STOP_GRACE, 5000).
%% How often a context whose code could not be stopped tries again.
-define(STOP_RETRY, 1000).
%% The options new/1 and start_link/3 take.
-define(OPTIONS, [mode, preload]).

%%% ---------------------------------------------------------------------
%%% Lifecycle
%%% ---------------------------------------------------------------------

%% @doc Starts a linked context with a unique id. Options: `mode' (worker
%% or owngil) and `preload' (code run once at start, after the global
%% preload; its globals are the template of every process-local namespace
%% of the context; a failure is logged). Unknown options and bad values are
%% refused with `{error, {bad_option, {Key, Value}}}' before anything
%% starts; a failure to start never takes the caller down.
-spec new(map()) -> {ok, pid()} | {error, term()}.
new(Opts) when is_map(Opts) ->
    start_link(erlang:unique_integer([positive]), maps:get(mode, Opts, worker), Opts);
new(Opts) ->
    {error, {bad_argument, Opts}}.

-spec start_link(term(), mode()) -> {ok, pid()} | {error, term()}.
start_link(Id, Mode) ->
    start_link(Id, Mode, #{}).

-spec start_link(term(), mode(), map()) -> {ok, pid()} | {error, term()}.
start_link(Id, Mode, Opts) when Mode =:= worker; Mode =:= owngil ->
    case check_options(Opts) of
        ok ->
            case gen_server:start_link(?MODULE, {Id, Mode, Opts}, [{timeout, ?START_TIMEOUT}]) of
                {error, {shutdown, Reason}} -> {error, Reason};
                Other -> Other
            end;
        Error ->
            Error
    end;
start_link(_Id, Mode, _Opts) ->
    {error, {invalid_mode, Mode}}.

check_options(Opts) when is_map(Opts) ->
    case [{K, V} || {K, V} <- maps:to_list(Opts), not valid_option(K, V)] of
        [] -> ok;
        [Bad | _] -> {error, {bad_option, Bad}}
    end;
check_options(Opts) ->
    {error, {bad_argument, Opts}}.

valid_option(mode, M) -> M =:= worker orelse M =:= owngil;
valid_option(preload, Code) -> is_binary(py_call:source(Code));
valid_option(_, _) -> false.

%% @private Used by tests that start a default context directly.
start_link() ->
    start_link(erlang:unique_integer([positive]), worker).

%% @doc Stops the context, giving its running code up to 5 seconds to end
%% (see stop/2): the call running gets `{error, interrupted}', queued calls
%% `{error, {context_died, _}}'.
-spec stop(pid()) -> ok | {error, {not_stopped, term()}}.
stop(Ctx) ->
    stop(Ctx, ?STOP_GRACE).

%% @doc Stops the context: queued calls never run, the running one is
%% interrupted, and code that ignores the interrupt (catching
%% KeyboardInterrupt in a loop, say) is stopped harder after a moment
%% (Python 3.12+). `{error, {not_stopped, Why}}' if the context's code still
%% runs after `Grace' milliseconds (blocked in C, say): the context then
%% refuses new work, keeps trying, and ends when its code does.
-spec stop(pid(), non_neg_integer()) -> ok | {error, {not_stopped, term()}}.
stop(Ctx, Grace) when is_pid(Ctx), is_integer(Grace), Grace >= 0 ->
    ok = py_worker_loop:interrupt_for_stop(Ctx),
    Mon = erlang:monitor(process, Ctx),
    try gen_server:call(Ctx, {stop, Grace}, infinity) of
        ok ->
            receive {'DOWN', Mon, process, _, _} -> ok end;
        {error, _} = Error ->
            erlang:demonitor(Mon, [flush]),
            Error
    catch
        exit:_ ->
            erlang:demonitor(Mon, [flush]),
            ok
    end.

-spec destroy(pid()) -> ok | {error, {not_stopped, term()}}.
destroy(Ctx) ->
    stop(Ctx).

%%% ---------------------------------------------------------------------
%%% Calls (run in the caller's process, by py_call)
%%% ---------------------------------------------------------------------

%% @doc `Module.Function(*Args)' on this context, no timeout, in the
%% context's own namespace.
-spec call(pid(), name(), name(), list()) -> {ok, term()} | {error, term()}.
call(Ctx, Module, Function, Args) ->
    py_call:context_call(Ctx, Module, Function, Args).

-spec call(pid(), name(), name(), list(), map()) -> {ok, term()} | {error, term()}.
call(Ctx, Module, Function, Args, Kwargs) ->
    py_call:context_call(Ctx, Module, Function, Args, Kwargs).

-spec call(pid(), name(), name(), list(), map(), timeout()) -> {ok, term()} | {error, term()}.
call(Ctx, Module, Function, Args, Kwargs, Timeout) ->
    py_call:context_call(Ctx, Module, Function, Args, Kwargs, Timeout).

%% @doc As call/6, in the namespace `EnvRef' (`undefined': the context's own).
-spec call(pid(), name(), name(), list(), map(), timeout(), env_ref() | undefined) ->
          {ok, term()} | {error, term()}.
call(Ctx, Module, Function, Args, Kwargs, Timeout, EnvRef) ->
    py_call:context_call(Ctx, Module, Function, Args, Kwargs, Timeout, EnvRef).

%% @doc Evaluates a Python expression on this context, no timeout.
-spec eval(pid(), iodata()) -> {ok, term()} | {error, term()}.
eval(Ctx, Code) ->
    py_call:context_eval(Ctx, Code).

-spec eval(pid(), iodata(), map()) -> {ok, term()} | {error, term()}.
eval(Ctx, Code, Locals) ->
    py_call:context_eval(Ctx, Code, Locals).

-spec eval(pid(), iodata(), map(), timeout()) -> {ok, term()} | {error, term()}.
eval(Ctx, Code, Locals, Timeout) ->
    py_call:context_eval(Ctx, Code, Locals, Timeout).

-spec eval(pid(), iodata(), map(), timeout(), env_ref() | undefined) -> {ok, term()} | {error, term()}.
eval(Ctx, Code, Locals, Timeout, EnvRef) ->
    py_call:context_eval(Ctx, Code, Locals, Timeout, EnvRef).

%% @doc Executes Python statements on this context (its own namespace).
-spec exec(pid(), iodata()) -> ok | {error, term()}.
exec(Ctx, Code) ->
    py_call:context_exec(Ctx, Code).

-spec exec(pid(), iodata(), env_ref() | undefined) -> ok | {error, term()}.
exec(Ctx, Code, EnvRef) ->
    py_call:context_exec(Ctx, Code, EnvRef).

%% @doc Calls a method of an object handle (on the context that owns it).
-spec call_method(pid(), reference(), name(), list()) -> {ok, term()} | {error, term()}.
call_method(Ctx, ObjRef, Method, Args) ->
    py_call:context_call_method(Ctx, ObjRef, Method, Args).

%% @doc Converts an object handle's value to a term (parts with no Erlang
%% form stay handles).
-spec to_term(reference()) -> {ok, term()} | {error, term()}.
to_term(ObjRef) ->
    py_call:handle_to_term(ObjRef).

%% @doc A new namespace in this context's interpreter (`{ok, EnvRef}'),
%% usable with call/7, eval/5 and exec/3 on any context of that interpreter.
-spec create_local_env(pid()) -> {ok, env_ref()} | {error, term()}.
create_local_env(Ctx) ->
    py_call:new_env(Ctx).

%% @doc The caller's process-bound namespace on this context, created on
%% first use and kept in the process dictionary (so it goes away with the
%% process). Each context has its own, also two worker contexts of the main
%% interpreter. Creating one forgets those of contexts that have ended.
-spec local_env(pid()) -> {ok, env_ref()} | {error, term()}.
local_env(Ctx) ->
    py_call:local_env(Ctx).

%%% ---------------------------------------------------------------------
%%% Queries
%%% ---------------------------------------------------------------------

%% @doc The NIF resource of a live context, for the `py_nif' functions
%% that take one (`py_nif:context_exec/3', say); raises
%% `{context_died, noproc}' for a context that has ended. Nothing caches
%% it: requests name the context by its pid, so a stopped context leaves no
%% reference behind in the processes that used it.
-spec get_nif_ref(pid()) -> reference().
get_nif_ref(Ctx) ->
    case py_call:context_ref(Ctx) of
        {ok, Ref} -> Ref;
        error -> erlang:error({context_died, noproc})
    end.

%% @doc An id unique to this context among all contexts the node started,
%% also for worker contexts that share the main interpreter (as the C
%% library's counter). `info/1' gives the interpreter's own id (0 for the
%% main interpreter).
-spec get_interp_id(pid()) -> {ok, pos_integer()} | {error, term()}.
get_interp_id(Ctx) ->
    case py_context_registry:info(Ctx) of
        {ok, #{context_id := Id}} -> {ok, Id};
        error -> {error, {context_died, noproc}}
    end.

%% @doc Whether the context runs in a sub-interpreter (own-GIL mode).
-spec is_subinterp(pid()) -> boolean().
is_subinterp(Ctx) ->
    case py_context_registry:info(Ctx) of
        {ok, #{interp_id := Id}} -> Id > 0;
        error -> false
    end.

%% @doc `#{interp_id, thread_id, mode}' of a context.
-spec info(pid()) -> {ok, map()} | {error, term()}.
info(Ctx) ->
    try {ok, py_nif:context_info(Ctx)}
    catch error:badarg -> {error, {context_died, noproc}}
    end.

%% @doc Raises KeyboardInterrupt in the code running on the context; the
%% call in flight returns `{error, interrupted}'.
-spec interrupt(pid()) -> ok | not_running.
interrupt(Ctx) ->
    py_call:interrupt(Ctx).

%% @doc No-op kept for code written for the C library, which extends the
%% `erlang' module of a new context from Erlang: here every interpreter's
%% `erlang' module is complete when it is created.
-spec extend_erlang_module_in_context(term()) -> ok.
extend_erlang_module_in_context(_Ctx) ->
    ok.

%%% ---------------------------------------------------------------------
%%% gen_server
%%% ---------------------------------------------------------------------

init({Id, Mode, Opts}) ->
    process_flag(trap_exit, true),
    case py_nif:context_create(Mode) of
        {ok, Ref, InterpId} ->
            Info = #{id => Id, mode => Mode, interp_id => InterpId,
                     context_id => erlang:unique_integer([positive, monotonic])},
            ok = py_context_registry:register(self(), Ref, Info),
            %% Registered paths, venv and imports, then preload code, before
            %% anyone can call.
            ok = py_env:setup_context(self(), Opts),
            {ok, #{id => Id, mode => Mode, ref => Ref, stopped => false}};
        {error, Reason} ->
            %% Failing to start is an answer, not a crash: the caller of
            %% start_link gets {error, Reason} and no exit signal.
            unlink_starter(),
            {stop, {shutdown, Reason}}
    end.

unlink_starter() ->
    case erlang:get('$ancestors') of
        [Starter | _] when is_pid(Starter) -> unlink(Starter);
        _ -> ok
    end.

handle_call({stop, Grace}, _From, State) ->
    case py_nif:context_destroy(self(), Grace) of
        ok ->
            {stop, normal, ok, State#{stopped := true}};
        {error, Reason} ->
            logger:warning(#{what => context_not_stopped, context => self(), reason => Reason},
                           #{domain => [erlang_python]}),
            erlang:send_after(?STOP_RETRY, self(), retry_stop),
            {reply, {error, Reason}, State}
    end;
handle_call(get_nif_ref, _From, #{ref := Ref} = State) ->
    {reply, {ok, Ref}, State};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info(retry_stop, State) ->
    case py_nif:context_destroy(self(), 0) of
        ok ->
            {stop, normal, State#{stopped := true}};
        {error, _} ->
            erlang:send_after(?STOP_RETRY, self(), retry_stop),
            {noreply, State}
    end;
handle_info({'EXIT', _From, Reason}, State) when Reason =/= normal ->
    {stop, Reason, State};
handle_info(_Msg, State) ->
    {noreply, State}.

terminate(_Reason, #{stopped := true}) ->
    ok;
terminate(_Reason, _State) ->
    %% Within the supervisor's shutdown time.
    _ = py_nif:context_destroy(self(), 2000),
    ok.

%%% ---------------------------------------------------------------------
%%% Worker loops (see py_worker_loop)
%%% ---------------------------------------------------------------------

%% @doc Runs an event loop for good on the context's thread; returns once it
%% runs. The owner (option `owner', default the caller) gets
%% `{py_loop_exit, Ctx, Result}' when it ends, and its death stops the
%% loop. Calls to the context keep working while the loop runs.
-spec start_loop(pid()) -> ok | {error, term()}.
start_loop(Ctx) -> start_loop(Ctx, #{}).

-spec start_loop(pid(), #{owner => pid()}) -> ok | {error, term()}.
start_loop(Ctx, Opts) -> py_worker_loop:start(Ctx, Opts).

%% @doc Stops the loop cooperatively, interrupting it after `Grace' ms
%% (default 5000).
-spec stop_loop(pid()) -> ok | {error, no_loop | timeout}.
stop_loop(Ctx) -> stop_loop(Ctx, 5000).

-spec stop_loop(pid(), non_neg_integer()) -> ok | {error, no_loop | timeout}.
stop_loop(Ctx, Grace) -> py_worker_loop:stop(Ctx, Grace).

%% @doc The context's loop resource (its NIF context).
-spec loop_ref(pid()) -> {ok, reference()} | error.
loop_ref(Ctx) -> py_worker_loop:loop_ref(Ctx).

%% @doc Runs `Module.Function(*Args, **Kwargs)' (a coroutine becomes a
%% task) on the context's loop, or to completion if no loop runs; the
%% result comes as `{async_result, TaskRef, Result}'.
-spec submit(pid(), name(), name(), list()) -> {ok, reference()}.
submit(Ctx, Module, Function, Args) -> submit(Ctx, Module, Function, Args, #{}).

-spec submit(pid(), name(), name(), list(), map()) -> {ok, reference()}.
submit(Ctx, Module, Function, Args, Kwargs) -> py_worker_loop:submit(Ctx, Module, Function, Args, Kwargs).

%% @doc submit then await (default 5000 ms).
-spec submit_await(pid(), name(), name(), list()) -> {ok, term()} | {error, term()}.
submit_await(Ctx, Module, Function, Args) -> submit_await(Ctx, Module, Function, Args, #{}, 5000).

-spec submit_await(pid(), name(), name(), list(), map()) -> {ok, term()} | {error, term()}.
submit_await(Ctx, Module, Function, Args, Kwargs) -> submit_await(Ctx, Module, Function, Args, Kwargs, 5000).

-spec submit_await(pid(), name(), name(), list(), map(), timeout()) -> {ok, term()} | {error, term()}.
submit_await(Ctx, Module, Function, Args, Kwargs, Timeout) ->
    py_worker_loop:submit_await(Ctx, Module, Function, Args, Kwargs, Timeout).
