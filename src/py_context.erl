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
         create_local_env/1, local_env/1, local_env/2]).
-export([start_link/0, request/3, request/4, submit_and_wait/3, submit_and_wait/4, submit_call/9,
         await/4, await/5, finish/2, deadline/1, valid_timeout/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type mode() :: worker | owngil.
-type name() :: atom() | binary() | string().
-type env_ref() :: reference().
%% An Erlang monotonic time in milliseconds, or `infinity'.
-type deadline() :: integer() | infinity.
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
valid_option(preload, Code) -> is_binary(source(Code));
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
%%% Calls (run in the caller's process)
%%% ---------------------------------------------------------------------

%% @doc `Module.Function(*Args)' on this context, no timeout, in the
%% context's own namespace.
-spec call(pid(), name(), name(), list()) -> {ok, term()} | {error, term()}.
call(Ctx, Module, Function, Args) ->
    call(Ctx, Module, Function, Args, #{}, infinity, undefined).

-spec call(pid(), name(), name(), list(), map()) -> {ok, term()} | {error, term()}.
call(Ctx, Module, Function, Args, Kwargs) ->
    call(Ctx, Module, Function, Args, Kwargs, infinity, undefined).

-spec call(pid(), name(), name(), list(), map(), timeout()) -> {ok, term()} | {error, term()}.
call(Ctx, Module, Function, Args, Kwargs, Timeout) ->
    call(Ctx, Module, Function, Args, Kwargs, Timeout, undefined).

%% @doc As call/6, in the namespace `EnvRef' (`undefined': the context's own).
-spec call(pid(), name(), name(), list(), map(), timeout(), env_ref() | undefined) ->
          {ok, term()} | {error, term()}.
call(Ctx, Module, Function, Args, Kwargs, Timeout, EnvRef) ->
    request(Ctx, Timeout, fun(C, Tag, Deadline) ->
        submit_call(C, Tag, Module, Function, Args, Kwargs, EnvRef, 0, Deadline)
    end).

%% @private Submits a call. Large arguments are lent to the context thread
%% from a dirty scheduler instead of being copied (the NIF answers `heavy').
submit_call(Ctx, Tag, Module, Function, Args, Kwargs, EnvRef, Flags, Deadline) ->
    case py_nif:context_call(Ctx, Tag, Module, Function, Args, Kwargs, EnvRef, Flags, Deadline) of
        heavy -> py_nif:context_call_heavy(Ctx, Tag, Module, Function, Args, Kwargs, EnvRef, Flags, Deadline);
        Submitted -> Submitted
    end.

%% @doc Evaluates a Python expression on this context, no timeout.
-spec eval(pid(), iodata()) -> {ok, term()} | {error, term()}.
eval(Ctx, Code) ->
    eval(Ctx, Code, #{}, infinity, undefined).

-spec eval(pid(), iodata(), map()) -> {ok, term()} | {error, term()}.
eval(Ctx, Code, Locals) ->
    eval(Ctx, Code, Locals, infinity, undefined).

-spec eval(pid(), iodata(), map(), timeout()) -> {ok, term()} | {error, term()}.
eval(Ctx, Code, Locals, Timeout) ->
    eval(Ctx, Code, Locals, Timeout, undefined).

-spec eval(pid(), iodata(), map(), timeout(), env_ref() | undefined) -> {ok, term()} | {error, term()}.
eval(Ctx, Code, Locals, Timeout, EnvRef) ->
    Source = source(Code),
    request(Ctx, Timeout, fun(C, Tag, Deadline) -> py_nif:context_eval(C, Tag, Source, Locals, EnvRef, 0, Deadline) end).

%% @doc Executes Python statements on this context (its own namespace).
-spec exec(pid(), iodata()) -> ok | {error, term()}.
exec(Ctx, Code) ->
    exec(Ctx, Code, undefined).

-spec exec(pid(), iodata(), env_ref() | undefined) -> ok | {error, term()}.
exec(Ctx, Code, EnvRef) ->
    Source = source(Code),
    request(Ctx, infinity, fun(C, Tag, Deadline) -> py_nif:context_exec(C, Tag, Source, EnvRef, 0, Deadline) end).

%% @doc Calls a method of an object handle (on the context that owns it).
-spec call_method(pid(), reference(), name(), list()) -> {ok, term()} | {error, term()}.
call_method(Ctx, ObjRef, Method, Args) ->
    request(Ctx, infinity, fun(_C, Tag, _Deadline) -> py_nif:ref_call_method(ObjRef, Tag, Method, Args, #{}, 0) end).

%% @doc Converts an object handle's value to a term (parts with no Erlang
%% form stay handles).
-spec to_term(reference()) -> {ok, term()} | {error, term()}.
to_term(ObjRef) ->
    case py_nif:ref_context(ObjRef) of
        Ctx when is_pid(Ctx) ->
            request(Ctx, infinity, fun(_C, Tag, _Deadline) -> py_nif:ref_to_term(ObjRef, Tag, 0) end);
        undefined ->
            {error, {context_died, noproc}}
    end.

%% @doc A new namespace in this context's interpreter (`{ok, EnvRef}'),
%% usable with call/7, eval/5 and exec/3 on any context of that interpreter.
-spec create_local_env(pid()) -> {ok, env_ref()} | {error, term()}.
create_local_env(Ctx) ->
    request(Ctx, infinity, fun(C, Tag, _Deadline) -> py_nif:context_new_env(C, Tag) end).

%% @doc The caller's process-bound namespace on this context, created on
%% first use and kept in the process dictionary (so it goes away with the
%% process). Each context has its own, also two worker contexts of the main
%% interpreter. Creating one forgets those of contexts that have ended.
-spec local_env(pid()) -> {ok, env_ref()} | {error, term()}.
local_env(Ctx) ->
    local_env(Ctx, infinity).

%% @private As local_env/1, creating the namespace by `Deadline' (see
%% deadline/1) if it does not exist yet.
-spec local_env(pid(), deadline()) -> {ok, env_ref()} | {error, term()}.
local_env(Ctx, Deadline) ->
    Key = {py_local_env, Ctx},
    case erlang:get(Key) of
        undefined ->
            New = fun(C, Tag, _D) -> py_nif:context_new_env(C, Tag) end,
            case submit_and_wait(Ctx, Deadline, New) of
                {error, not_submitted, Reason} ->
                    {error, {context_died, Reason}};
                {ok, EnvRef} = Ok ->
                    forget_ended_envs(),
                    _ = erlang:put(Key, EnvRef),
                    Ok;
                Error ->
                    Error
            end;
        EnvRef ->
            {ok, EnvRef}
    end.

forget_ended_envs() ->
    _ = [erlang:erase(Key) || {{py_local_env, C} = Key, _} <- erlang:get(),
                              node(C) =:= node(), not is_process_alive(C)],
    ok.

%% @private Sends one request and waits for its reply. `Submit(Ctx, Tag,
%% Deadline)' hands it to the context; the monitor reference doubles as the
%% request tag. `{error, not_submitted, Reason}' means the request never
%% reached the context (safe to retry elsewhere); the public functions turn
%% it into `{error, {context_died, Reason}}'.
request(Ctx, Timeout, Submit) ->
    request(Ctx, Timeout, Submit, false).

%% @private As request/3; `WantTraceback' keeps Python tracebacks in errors
%% (`{error, {Class, Message, Traceback}}').
request(Ctx, Timeout, Submit, WantTraceback) ->
    case valid_timeout(Timeout) of
        true ->
            case submit_and_wait(Ctx, deadline(Timeout), Submit, WantTraceback) of
                {error, not_submitted, Reason} -> {error, {context_died, Reason}};
                Result -> Result
            end;
        false ->
            {error, {bad_argument, timeout}}
    end.

%% @private Like request/3 with an absolute deadline (see deadline/1),
%% keeping the not_submitted marker.
submit_and_wait(Ctx, Deadline, Submit) ->
    submit_and_wait(Ctx, Deadline, Submit, false).

submit_and_wait(Ctx, Deadline, Submit, WantTraceback) when is_pid(Ctx) ->
    Tag = erlang:monitor(process, Ctx),
    case Submit(Ctx, Tag, Deadline) of
        Seq when is_integer(Seq) ->
            await_until(Ctx, Tag, Seq, Deadline, WantTraceback);
        {error, context_stopped} ->
            erlang:demonitor(Tag, [flush]),
            {error, not_submitted, stopped};
        {error, _} = Error ->
            erlang:demonitor(Tag, [flush]),
            Error
    end;
submit_and_wait(Ctx, _Deadline, _Submit, _WantTraceback) ->
    {error, {invalid_context, Ctx}}.

%% @private Waits for the reply to request `Seq' (tagged `Tag', a monitor
%% of the context), serving the request's callbacks into Erlang meanwhile
%% (see py_callback). A timeout interrupts exactly that request.
await(Ctx, Tag, Seq, Timeout) ->
    await(Ctx, Tag, Seq, Timeout, false).

await(Ctx, Tag, Seq, Timeout, WantTraceback) ->
    await_until(Ctx, Tag, Seq, deadline(Timeout), WantTraceback).

await_until(Ctx, Tag, Seq, Deadline, WantTraceback) ->
    receive
        {Tag, {error, context_stopped}} ->
            %% Cancelled unrun: the context stopped before it started.
            erlang:demonitor(Tag, [flush]),
            {error, not_submitted, stopped};
        {Tag, Result} ->
            erlang:demonitor(Tag, [flush]),
            finish(Result, WantTraceback);
        {py_callback, _, _, _} = Callback ->
            serve_callback(Callback, Deadline),
            await_until(Ctx, Tag, Seq, Deadline, WantTraceback);
        {'DOWN', Tag, process, _, Reason} ->
            receive {Tag, _} -> ok after 0 -> ok end,
            {error, {context_died, Reason}}
    after remaining(Deadline) ->
        %% From here on the request sends nothing here: its callbacks go to
        %% py_callback and its reply is dropped. What it sent before is
        %% already in the mailbox: the reply is discarded, callbacks served.
        _ = py_nif:context_abandon(Ctx, Seq),
        erlang:demonitor(Tag, [flush]),
        receive {Tag, _} -> ok after 0 -> ok end,
        serve_pending_callbacks(),
        {error, timeout}
    end.

%% A callback of a request with a deadline runs in a helper process that
%% carries the caller's process dictionary (its context bindings and
%% namespaces), so a function that never returns cannot hold the caller
%% past its deadline: the helper is killed then, and the Python code waiting
%% for it is interrupted. Without a deadline it runs in the caller itself.
serve_callback(Callback, infinity) ->
    py_callback:serve(Callback);
serve_callback(Callback, Deadline) ->
    Dict = erlang:get(),
    {Pid, Mon} = spawn_monitor(fun() ->
                                       _ = [erlang:put(K, V) || {K, V} <- Dict],
                                       py_callback:serve(Callback)
                               end),
    receive
        {'DOWN', Mon, process, Pid, normal} ->
            ok;
        {'DOWN', Mon, process, Pid, Reason} ->
            %% The caller holds the ticket too (it received the message), so
            %% the helper's death does not free it: answer for the helper.
            py_callback:exited(Callback, Reason)
    after remaining(Deadline) ->
        %% The request times out now: it is interrupted where it waits.
        exit(Pid, kill),
        receive {'DOWN', Mon, process, Pid, _} -> ok end
    end.

%% Callbacks the request sent before its caller gave up are served
%% without the caller waiting for them (one might never return).
serve_pending_callbacks() ->
    receive
        {py_callback, _, _, _} = Callback ->
            Dict = erlang:get(),
            _ = spawn(fun() ->
                              _ = [erlang:put(K, V) || {K, V} <- Dict],
                              py_callback:serve(Callback)
                      end),
            serve_pending_callbacks()
    after 0 ->
        ok
    end.

%% @doc The deadline of a timeout: an Erlang monotonic time in
%% milliseconds, or `infinity'.
-spec deadline(timeout()) -> deadline().
deadline(infinity) -> infinity;
deadline(Timeout) -> erlang:monotonic_time(millisecond) + Timeout.

remaining(infinity) -> infinity;
remaining(Deadline) -> max(0, Deadline - erlang:monotonic_time(millisecond)).

%% @doc Whether `T' is a timeout (a non-negative integer or `infinity').
-spec valid_timeout(term()) -> boolean().
valid_timeout(infinity) -> true;
valid_timeout(T) -> is_integer(T) andalso T >= 0.

%% @private Turns a reply into the caller's result: decodes values that
%% travelled encoded (large maps, see py-nif reply.rs), and logs Python
%% tracebacks at debug level, keeping them only when asked for.
finish({py_etf, Encoded}, WantTraceback) ->
    finish(binary_to_term(Encoded, [safe]), WantTraceback);
finish({error, context_stopped}, _WantTraceback) ->
    %% Cancelled unrun because the context stopped.
    {error, {context_died, stopped}};
finish({py_schedule, Callback, Args}, _WantTraceback) ->
    py_callback:run_scheduled(Callback, Args);
finish({error, {Class, Message, Traceback}}, WantTraceback) when is_binary(Traceback) ->
    logger:debug(#{what => python_exception, class => Class, message => Message,
                   traceback => Traceback},
                 #{domain => [erlang_python], report_cb => fun traceback_report/1}),
    case WantTraceback of
        true -> {error, {Class, Message, Traceback}};
        false -> {error, {Class, Message}}
    end;
finish(Result, _WantTraceback) ->
    Result.

traceback_report(#{class := Class, message := Message, traceback := Traceback}) ->
    {"Python ~ts: ~ts~n~ts", [class_text(Class), Message, Traceback]}.

class_text(Class) when is_atom(Class) -> atom_to_binary(Class);
class_text(Class) -> Class.

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

%% @doc The NIF resource of a live context. Nothing caches it: requests
%% name the context by its pid, so a stopped context leaves no reference
%% behind in the processes that used it.
-spec get_nif_ref(pid()) -> {ok, reference()} | error.
get_nif_ref(Ctx) when is_pid(Ctx) ->
    py_nif:context_ref(Ctx);
get_nif_ref(_) ->
    error.

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
    try {ok, py_nif:context_info(Ctx)}
    catch error:badarg -> {error, {context_died, noproc}}
    end.

%% @doc Raises KeyboardInterrupt in the code running on the context; the
%% call in flight returns `{error, interrupted}'.
-spec interrupt(pid()) -> ok | not_running.
interrupt(Ctx) ->
    py_nif:context_interrupt(Ctx, all).

%%% ---------------------------------------------------------------------
%%% gen_server
%%% ---------------------------------------------------------------------

init({Id, Mode, Opts}) ->
    process_flag(trap_exit, true),
    case py_nif:context_create(Mode) of
        {ok, Ref, InterpId} ->
            ok = py_context_registry:register(self(), Ref, #{id => Id, mode => Mode, interp_id => InterpId}),
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
