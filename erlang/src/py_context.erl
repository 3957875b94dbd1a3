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
-export([call/4, call/5, call/6, call/7, eval/2, eval/3, eval/4, eval/5, exec/2, exec/3]).
-export([call_method/4, to_term/1]).
-export([start_loop/1, start_loop/2, stop_loop/1, stop_loop/2, loop_ref/1, submit/4, submit/5,
         submit_await/4, submit_await/5, submit_await/6]).
-export([get_interp_id/1, is_subinterp/1, get_nif_ref/1, interrupt/1, info/1,
         create_local_env/1, local_env/1]).
-export([start_link/0, request/3, request/4, submit_and_wait/3, submit_and_wait/4, submit_call/8,
         await/4, await/5, finish/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type mode() :: worker | owngil.
-type name() :: atom() | binary() | string().
-type env_ref() :: reference().
-export_type([mode/0, name/0, env_ref/0]).

-define(START_TIMEOUT, 30000).

%%% ---------------------------------------------------------------------
%%% Lifecycle
%%% ---------------------------------------------------------------------

%% @doc Starts a linked context with a unique id. Options: `mode' (worker
%% or owngil) and `preload' (code run once at start, after the global
%% preload; its globals are the template of every process-local namespace
%% of the context; a failure is logged).
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
    request(Ctx, Timeout, fun(Ref, Tag) ->
        submit_call(Ref, Tag, Module, Function, Args, Kwargs, EnvRef, 0)
    end).

%% @private Submits a call. Large arguments are lent to the context thread
%% from a dirty scheduler instead of being copied (the NIF answers `heavy').
submit_call(Ref, Tag, Module, Function, Args, Kwargs, EnvRef, Flags) ->
    case py_nif:context_call(Ref, Tag, Module, Function, Args, Kwargs, EnvRef, Flags) of
        heavy -> py_nif:context_call_heavy(Ref, Tag, Module, Function, Args, Kwargs, EnvRef, Flags);
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
    request(Ctx, Timeout, fun(Ref, Tag) -> py_nif:context_eval(Ref, Tag, Source, Locals, EnvRef, 0) end).

%% @doc Executes Python statements on this context (its own namespace).
-spec exec(pid(), iodata()) -> ok | {error, term()}.
exec(Ctx, Code) ->
    exec(Ctx, Code, undefined).

-spec exec(pid(), iodata(), env_ref() | undefined) -> ok | {error, term()}.
exec(Ctx, Code, EnvRef) ->
    Source = source(Code),
    request(Ctx, infinity, fun(Ref, Tag) -> py_nif:context_exec(Ref, Tag, Source, EnvRef, 0) end).

%% @doc Calls a method of an object handle (on the context that owns it).
-spec call_method(pid(), reference(), name(), list()) -> {ok, term()} | {error, term()}.
call_method(Ctx, ObjRef, Method, Args) ->
    request(Ctx, infinity, fun(_Ref, Tag) -> py_nif:ref_call_method(ObjRef, Tag, Method, Args, #{}, 0) end).

%% @doc Converts an object handle's value to a term (parts with no Erlang
%% form stay handles).
-spec to_term(reference()) -> {ok, term()} | {error, term()}.
to_term(ObjRef) ->
    case py_nif:ref_context(ObjRef) of
        Ctx when is_pid(Ctx) ->
            request(Ctx, infinity, fun(_Ref, Tag) -> py_nif:ref_to_term(ObjRef, Tag, 0) end);
        undefined ->
            {error, {context_died, noproc}}
    end.

%% @doc A new namespace in this context's interpreter (`{ok, EnvRef}'),
%% usable with call/7, eval/5 and exec/3 on any context of that interpreter.
-spec create_local_env(pid()) -> {ok, env_ref()} | {error, term()}.
create_local_env(Ctx) ->
    request(Ctx, infinity, fun(Ref, Tag) -> py_nif:context_new_env(Ref, Tag) end).

%% @doc The caller's process-bound namespace for this context's interpreter,
%% created on first use and kept in the process dictionary (so it goes away
%% with the process).
-spec local_env(pid()) -> {ok, env_ref()} | {error, term()}.
local_env(Ctx) ->
    case nif_info(Ctx) of
        {ok, _Ref, InterpId} ->
            Key = {py_local_env, InterpId},
            case erlang:get(Key) of
                undefined ->
                    case create_local_env(Ctx) of
                        {ok, EnvRef} = Ok ->
                            _ = erlang:put(Key, EnvRef),
                            Ok;
                        Error ->
                            Error
                    end;
                EnvRef ->
                    {ok, EnvRef}
            end;
        error ->
            {error, {context_died, noproc}}
    end.

%% @private Sends one request and waits for its reply. The monitor
%% reference doubles as the request tag. `{error, not_submitted, Reason}'
%% means the request never reached the context (safe to retry elsewhere);
%% the public functions turn it into `{error, {context_died, Reason}}'.
request(Ctx, Timeout, Submit) ->
    request(Ctx, Timeout, Submit, false).

%% @private As request/3; `WantTraceback' keeps Python tracebacks in errors
%% (`{error, {Class, Message, Traceback}}').
request(Ctx, Timeout, Submit, WantTraceback) ->
    case submit_and_wait(Ctx, Timeout, Submit, WantTraceback) of
        {error, not_submitted, Reason} -> {error, {context_died, Reason}};
        Result -> Result
    end.

%% @private Like request/3 but keeps the not_submitted marker.
submit_and_wait(Ctx, Timeout, Submit) ->
    submit_and_wait(Ctx, Timeout, Submit, false).

submit_and_wait(Ctx, Timeout, Submit, WantTraceback) when is_pid(Ctx) ->
    case get_nif_ref(Ctx) of
        {ok, Ref} ->
            Tag = erlang:monitor(process, Ctx),
            case Submit(Ref, Tag) of
                Seq when is_integer(Seq) ->
                    await(Ref, Tag, Seq, Timeout, WantTraceback);
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
submit_and_wait(Ctx, _Timeout, _Submit, _WantTraceback) ->
    {error, {invalid_context, Ctx}}.

%% @private Waits for the reply to request `Seq' (tagged `Tag', a monitor
%% of the context), serving the request's callbacks into Erlang meanwhile
%% (see py_callback). A timeout interrupts exactly that request.
await(Ref, Tag, Seq, Timeout) ->
    await(Ref, Tag, Seq, Timeout, false).

await(Ref, Tag, Seq, Timeout, WantTraceback) ->
    await_until(Ref, Tag, Seq, deadline(Timeout), WantTraceback).

await_until(Ref, Tag, Seq, Deadline, WantTraceback) ->
    receive
        {Tag, Result} ->
            erlang:demonitor(Tag, [flush]),
            finish(Result, WantTraceback);
        {py_callback, _, _, _} = Callback ->
            py_callback:serve(Callback),
            await_until(Ref, Tag, Seq, Deadline, WantTraceback);
        {'DOWN', Tag, process, _, Reason} ->
            receive {Tag, _} -> ok after 0 -> ok end,
            {error, {context_died, Reason}}
    after remaining(Deadline) ->
        %% From here on the request sends nothing here: its callbacks go to
        %% py_callback and its reply is dropped. What it sent before is
        %% already in the mailbox: the reply is discarded, callbacks served.
        _ = py_nif:context_abandon(Ref, Seq),
        erlang:demonitor(Tag, [flush]),
        receive {Tag, _} -> ok after 0 -> ok end,
        serve_pending_callbacks(),
        {error, timeout}
    end.

serve_pending_callbacks() ->
    receive
        {py_callback, _, _, _} = Callback ->
            py_callback:serve(Callback),
            serve_pending_callbacks()
    after 0 ->
        ok
    end.

deadline(infinity) -> infinity;
deadline(Timeout) -> erlang:monotonic_time(millisecond) + Timeout.

remaining(infinity) -> infinity;
remaining(Deadline) -> max(0, Deadline - erlang:monotonic_time(millisecond)).

%% @private Turns a reply into the caller's result: decodes values that
%% travelled encoded (large maps, see py-nif reply.rs), and logs Python
%% tracebacks at debug level, keeping them only when asked for.
finish({py_etf, Encoded}, WantTraceback) ->
    finish(binary_to_term(Encoded), WantTraceback);
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
    {"Python ~s: ~ts~n~ts", [Class, Message, Traceback]}.

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
    case nif_info(Ctx) of
        {ok, Ref, _InterpId} -> {ok, Ref};
        error -> error
    end.

%% The NIF resource and interpreter id of a context, cached per caller.
nif_info(Ctx) ->
    case erlang:get({?MODULE, Ctx}) of
        undefined ->
            case py_context_registry:lookup(Ctx) of
                {ok, Ref} ->
                    {ok, #{interp_id := InterpId}} = py_context_registry:info(Ctx),
                    _ = erlang:put({?MODULE, Ctx}, {Ref, InterpId}),
                    {ok, Ref, InterpId};
                error ->
                    error
            end;
        {Ref, InterpId} ->
            {ok, Ref, InterpId}
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

init({Id, Mode, Opts}) ->
    process_flag(trap_exit, true),
    case py_nif:context_create(Mode) of
        {ok, Ref, InterpId} ->
            ok = py_context_registry:register(self(), Ref, #{id => Id, mode => Mode, interp_id => InterpId}),
            %% Registered paths, venv and imports, then preload code, before
            %% anyone can call.
            ok = py_env:setup_context(self(), Opts),
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
