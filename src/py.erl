%% @doc The main API: call Python functions, evaluate expressions and run
%% statements from Erlang.
%%
%% Calls without an explicit context go to the caller's context in the pool
%% registered for the module (or function), else the default pool: picked
%% once per process, then sticky, so a process's calls run in order on one
%% thread. They have a 30 second timeout, which interrupts the Python code and
%% returns `{error, timeout}', and they are limited by `py_semaphore'.
%% Calls on an explicit context (a pid) have no timeout unless given one.
%%
%% Every Erlang process has its own namespace per interpreter: what
%% `py:exec/1' defines is visible to later `py:eval/1' and
%% `py:call('__main__', F, Args)' from the same process only, and goes away
%% with the process.
%%
%% Module and function names may be atoms, binaries or strings. Python
%% exceptions come back as `{error, {Class, Message}}' with the class name as
%% an atom and the message as a string. Values with no Erlang form come back
%% as object handles (`is_ref/1', `getattr/2', `call_method/3', `to_term/1').
-module(py).

-export([call/3, call/4, call/5, eval/1, eval/2, eval/3, exec/1, exec/2]).
-export([cast/3, cast/4, cast/5, spawn_call/3, spawn_call/4, spawn_call/5,
         await/1, await/2, parallel/1]).
-export([is_ref/1, getattr/2, call_method/3, to_term/1, get_local_env/1]).
-export([version/0, execution_mode/0, subinterp_supported/0, interrupt/1]).
-export([memory_stats/0, gc/0, gc/1, tracemalloc_start/0, tracemalloc_start/1,
         tracemalloc_stop/0]).
-export([async_call/3, async_call/4, async_await/1, async_await/2, async_gather/1,
         async_gather/2]).
-export([register_function/2, register_function/3, unregister_function/1]).
-export([stream/3, stream/4, stream_eval/1, stream_eval/2, stream_start/3, stream_start/4,
         stream_cancel/1]).
-export([import/1, import/2, add_import/1, add_import/2, add_path/1, activate_venv/1,
         deactivate_venv/0, venv_info/0, ensure_venv/2, ensure_venv/3, reload/1, dup_fd/1]).
-export([shared_dict_new/0, shared_dict_get/2, shared_dict_get/3, shared_dict_set/3,
         shared_dict_del/2, shared_dict_keys/1, shared_dict_destroy/1]).
-export([state_fetch/1, state_store/2, state_remove/1, state_keys/0, state_clear/0,
         state_incr/1, state_incr/2, state_decr/1, state_decr/2]).
-export([configure_logging/0, configure_logging/1, enable_tracing/0, disable_tracing/0,
         get_traces/0, clear_traces/0]).
-export([context/0, context/1, start_contexts/0, start_contexts/1, stop_contexts/0,
         contexts_started/0, register_pool/2, unregister_pool/1]).

-define(DEFAULT_TIMEOUT, 30000).

-type name() :: py_call:name().
-type result() :: py_call:result().
-export_type([name/0, result/0]).

%%% ---------------------------------------------------------------------
%%% Calls (the engine is py_call)
%%% ---------------------------------------------------------------------

%% @doc `Module.Function(*Args)'.
-spec call(name(), name(), list()) -> result().
call(Module, Function, Args) ->
    py_call:call(Module, Function, Args).

%% @doc `call(Ctx, Module, Function, Args)' on an explicit context (no
%% timeout), `call(Pool, Module, Function, Args)' on a named pool, or
%% `call(Module, Function, Args, Kwargs)' with keyword arguments.
-spec call(pid() | atom() | name(), name(), name() | list(), list() | map()) -> result().
call(CtxPoolOrModule, ModuleOrFunction, FunctionOrArgs, ArgsOrKwargs) ->
    py_call:call(CtxPoolOrModule, ModuleOrFunction, FunctionOrArgs, ArgsOrKwargs).

%% @doc `call(Ctx, M, F, Args, #{kwargs => Kw, timeout => T, traceback => true})'
%% (with `traceback', Python errors are `{error, {Class, Message, Traceback}}'),
%% `call(Pool, M, F, Args, Kwargs)' or `call(M, F, Args, Kwargs, Timeout)'.
-spec call(pid() | atom() | name(), name(), name() | list(), list() | map(), map() | timeout()) -> result().
call(CtxPoolOrModule, ModuleOrFunction, FunctionOrArgs, ArgsOrKwargs, OptsKwargsOrTimeout) ->
    py_call:call(CtxPoolOrModule, ModuleOrFunction, FunctionOrArgs, ArgsOrKwargs, OptsKwargsOrTimeout).

%% @doc Evaluates a Python expression.
-spec eval(iodata()) -> result().
eval(Code) ->
    py_call:eval(Code).

%% @doc `eval(Ctx, Code)' on an explicit context, or `eval(Code, Locals)'.
-spec eval(pid() | iodata(), iodata() | map()) -> result().
eval(CtxOrCode, CodeOrLocals) ->
    py_call:eval(CtxOrCode, CodeOrLocals).

%% @doc `eval(Ctx, Code, Locals)' or `eval(Code, Locals, Timeout)'.
-spec eval(pid() | iodata(), iodata() | map(), map() | timeout()) -> result().
eval(CtxOrCode, CodeOrLocals, LocalsOrTimeout) ->
    py_call:eval(CtxOrCode, CodeOrLocals, LocalsOrTimeout).

%% @doc Executes Python statements (no timeout).
-spec exec(iodata()) -> ok | {error, term()}.
exec(Code) ->
    py_call:exec(Code).

-spec exec(pid(), iodata()) -> ok | {error, term()}.
exec(Ctx, Code) ->
    py_call:exec(Ctx, Code).

%% @doc Runs `Module.Function(*Args)' without waiting for or keeping the
%% result (default pool, no namespace, no limiter).
-spec cast(name(), name(), list()) -> ok.
cast(Module, Function, Args) ->
    py_call:cast(Module, Function, Args).

-spec cast(pid() | name(), name(), name() | list(), list() | map()) -> ok.
cast(CtxOrModule, ModuleOrFunction, FunctionOrArgs, ArgsOrKwargs) ->
    py_call:cast(CtxOrModule, ModuleOrFunction, FunctionOrArgs, ArgsOrKwargs).

-spec cast(pid(), name(), name(), list(), map()) -> ok.
cast(Ctx, Module, Function, Args, Kwargs) ->
    py_call:cast(Ctx, Module, Function, Args, Kwargs).

%% @doc Starts `Module.Function(*Args)' and returns a reference; the result
%% arrives as `{py_response, Ref, Result}' (see await/1,2).
-spec spawn_call(name(), name(), list()) -> reference().
spawn_call(Module, Function, Args) ->
    py_call:spawn_call(Module, Function, Args).

-spec spawn_call(pid() | name(), name(), name() | list(), list() | map()) -> reference().
spawn_call(CtxOrModule, ModuleOrFunction, FunctionOrArgs, ArgsOrKwargs) ->
    py_call:spawn_call(CtxOrModule, ModuleOrFunction, FunctionOrArgs, ArgsOrKwargs).

%% The reference is a reply gate: once await/2 gives up on it, the reply
%% is not sent (no late message).
-spec spawn_call(pid(), name(), name(), list(), map()) -> reference().
spawn_call(Ctx, Module, Function, Args, Kwargs) ->
    py_call:spawn_call(Ctx, Module, Function, Args, Kwargs).

%% @doc Waits for the result of spawn_call/3,4,5 (30 seconds).
-spec await(reference()) -> result().
await(Ref) ->
    py_call:await(Ref).

-spec await(reference(), timeout()) -> result().
await(Ref, Timeout) ->
    py_call:await(Ref, Timeout).

%% @doc Runs the calls concurrently, spread over the default pool, and
%% returns their results in order, or the first error.
-spec parallel([{name(), name(), list()}]) -> {ok, [term()]} | {error, term()}.
parallel(Calls) ->
    py_call:parallel(Calls).

%% @doc Whether a term is a Python object handle.
-spec is_ref(term()) -> boolean().
is_ref(Term) ->
    py_call:is_ref(Term).

%% @doc `getattr(Obj, Name)' for an object handle.
-spec getattr(reference(), name()) -> result().
getattr(ObjRef, Name) ->
    py_call:getattr(ObjRef, Name).

%% @doc `Obj.Method(*Args)' for an object handle.
-spec call_method(reference(), name(), list()) -> result().
call_method(ObjRef, Method, Args) ->
    py_call:call_method(ObjRef, Method, Args).

%% @doc The handle's value as a term (parts with no Erlang form stay
%% handles).
-spec to_term(reference()) -> result().
to_term(ObjRef) ->
    py_call:to_term(ObjRef).

%% @doc The caller's namespace for the interpreter of `Ctx' (created on
%% first use, freed when the process exits).
-spec get_local_env(pid()) -> reference().
get_local_env(Ctx) ->
    py_call:get_local_env(Ctx).

%%% ---------------------------------------------------------------------
%%% Coroutines on the event loop
%%% ---------------------------------------------------------------------

%% @doc Submits `Module.Function(*Args)' to the main event loop (see
%% py_event_loop): coroutines are awaited there, plain functions called.
%% The result arrives as `{async_result, Ref, Result}'; see async_await/1,2.
-spec async_call(name(), name(), list()) -> reference().
async_call(Module, Function, Args) ->
    py_event_loop:create_task(Module, Function, Args).

-spec async_call(name(), name(), list(), map()) -> reference().
async_call(Module, Function, Args, Kwargs) ->
    py_event_loop:create_task(Module, Function, Args, Kwargs).

%% @doc Waits for an async_call result (default 30 s).
-spec async_await(reference()) -> result().
async_await(Ref) ->
    async_await(Ref, ?DEFAULT_TIMEOUT).

-spec async_await(reference(), timeout()) -> result().
async_await(Ref, Timeout) ->
    py_event_loop:await(Ref, Timeout).

%% @doc Runs the calls concurrently on the main loop and returns their
%% results in order, or `{error, {gather_failed, [{Index, Reason}]}}'
%% (1-based indices of the calls that failed). The timeout applies to each
%% wait.
-spec async_gather([{name(), name(), list()}]) -> {ok, [term()]} | {error, term()}.
async_gather(Calls) ->
    async_gather(Calls, ?DEFAULT_TIMEOUT).

-spec async_gather([{name(), name(), list()}], timeout()) -> {ok, [term()]} | {error, term()}.
async_gather(Calls, Timeout) ->
    Refs = [async_call(M, F, A) || {M, F, A} <- Calls],
    Results = [async_await(Ref, Timeout) || Ref <- Refs],
    Failed = [{I, R} || {I, {error, R}} <- lists:zip(lists:seq(1, length(Results)), Results)],
    case Failed of
        [] -> {ok, [V || {ok, V} <- Results]};
        _ -> {error, {gather_failed, Failed}}
    end.

%%% ---------------------------------------------------------------------
%%% Callbacks into Erlang, shared state, logging and tracing
%%% ---------------------------------------------------------------------

%% @doc Makes `Fun' callable from Python as `erlang.call(Name, *Args)',
%% `erlang.Name(*Args)' and `from erlang import Name': it gets the arguments
%% as one list. Its result (or error) goes back to the Python caller.
-spec register_function(name(), fun((list()) -> term()) | {module(), atom()}) -> ok.
register_function(Name, Fun) ->
    py_callback:register(Name, Fun).

%% @doc As register_function/2 with `Module:Function(Args)'.
-spec register_function(name(), module(), atom()) -> ok.
register_function(Name, Module, Function) ->
    py_callback:register(Name, Module, Function).

-spec unregister_function(name()) -> ok.
unregister_function(Name) ->
    py_callback:unregister(Name).

%% @doc Shared state (see py_state): also `erlang.state_get' and friends
%% in Python.
-spec state_fetch(term()) -> {ok, term()} | {error, not_found}.
state_fetch(Key) -> py_state:fetch(Key).

-spec state_store(term(), term()) -> ok | {error, full | reserved_key}.
state_store(Key, Value) -> py_state:store(Key, Value).

-spec state_remove(term()) -> ok.
state_remove(Key) -> py_state:remove(Key).

-spec state_keys() -> [term()].
state_keys() -> py_state:keys().

-spec state_clear() -> ok.
state_clear() -> py_state:clear().

-spec state_incr(term()) -> integer().
state_incr(Key) -> py_state:incr(Key).

-spec state_incr(term(), integer()) -> integer().
state_incr(Key, N) -> py_state:incr(Key, N).

-spec state_decr(term()) -> integer().
state_decr(Key) -> py_state:decr(Key).

-spec state_decr(term(), integer()) -> integer().
state_decr(Key, N) -> py_state:decr(Key, N).

%% @doc Sends Python `logging' records at `debug' and above to the Erlang
%% logger.
-spec configure_logging() -> ok | {error, term()}.
configure_logging() ->
    configure_logging(#{}).

%% @doc Options: `level' (debug | info | warning | error | critical) and
%% `format' (a Python logging format string). Installs
%% `erlang.ErlangHandler' in every interpreter of the default pool.
-spec configure_logging(map()) -> ok | {error, term()}.
configure_logging(Opts) when is_map(Opts) ->
    Level = py_logger:level_number(maps:get(level, Opts, debug)),
    Format = case maps:get(format, Opts, undefined) of
                 undefined -> none;
                 F -> unicode:characters_to_binary(F)
             end,
    ok = py_logger:set_level(Level),
    Results = [py_context:call(Ctx, erlang, setup_logging, [Level, Format], #{}, ?DEFAULT_TIMEOUT)
               || Ctx <- py_context_router:contexts()],
    case [E || {error, _} = E <- Results] of
        [] -> ok;
        [First | _] -> First
    end.

-spec enable_tracing() -> ok.
enable_tracing() -> py_tracer:enable().

-spec disable_tracing() -> ok.
disable_tracing() -> py_tracer:disable().

%% @doc Completed spans, oldest first (see py_tracer).
-spec get_traces() -> {ok, [map()]}.
get_traces() -> py_tracer:get_spans().

-spec clear_traces() -> ok.
clear_traces() -> py_tracer:clear().

%%% ---------------------------------------------------------------------
%%% Information
%%% ---------------------------------------------------------------------

%% @doc `sys.version' of the embedded interpreter.
-spec version() -> {ok, binary()} | {error, term()}.
version() ->
    py_nif:version().

%% @doc What actually runs: `free_threaded' on a free-threaded Python,
%% `owngil' when the default pool runs own-GIL sub-interpreters, else
%% `worker'.
-spec execution_mode() -> worker | owngil | free_threaded.
execution_mode() ->
    case py_nif:execution_mode() of
        free_threaded -> free_threaded;
        gil ->
            case [C || C <- py_context_router:contexts(), py_context:is_subinterp(C)] of
                [] -> worker;
                _ -> owngil
            end
    end.

%% @doc Whether sub-interpreters (with their own GIL) are available.
-spec subinterp_supported() -> boolean().
subinterp_supported() ->
    py_nif:subinterp_supported().

%% @doc Interrupts the code running on a context: the call in flight returns
%% `{error, interrupted}'.
-spec interrupt(pid()) -> ok | not_running.
interrupt(Ctx) ->
    py_context:interrupt(Ctx).

%% @doc Garbage collector and allocation figures of the caller's
%% interpreter: `gc_stats', `gc_count', `gc_threshold', and
%% `traced_memory_current'/`traced_memory_peak' while tracemalloc runs.
-spec memory_stats() -> {ok, map()} | {error, term()}.
memory_stats() ->
    Code = <<"(lambda gc, tm: dict("
             "gc_stats=gc.get_stats(), gc_count=gc.get_count(), gc_threshold=gc.get_threshold(), "
             "**(dict(zip(('traced_memory_current', 'traced_memory_peak'), tm.get_traced_memory())) "
             "if tm.is_tracing() else {})))"
             "(__import__('gc'), __import__('tracemalloc'))">>,
    case eval(Code) of
        {ok, Stats} ->
            {ok, maps:from_list([{binary_to_atom(K), V} || {K, V} <- maps:to_list(Stats)])};
        Error ->
            Error
    end.

%% @doc `gc.collect()': the number of unreachable objects found.
-spec gc() -> {ok, non_neg_integer()} | {error, term()}.
gc() ->
    eval(<<"__import__('gc').collect()">>).

-spec gc(0..2) -> {ok, non_neg_integer()} | {error, term()}.
gc(Generation) when is_integer(Generation), Generation >= 0, Generation =< 2 ->
    eval(<<"__import__('gc').collect(g)">>, #{g => Generation}).

-spec tracemalloc_start() -> ok | {error, term()}.
tracemalloc_start() ->
    tracemalloc_start(1).

-spec tracemalloc_start(pos_integer()) -> ok | {error, term()}.
tracemalloc_start(Frames) when is_integer(Frames), Frames > 0 ->
    ok_or_error(eval(<<"__import__('tracemalloc').start(n)">>, #{n => Frames})).

-spec tracemalloc_stop() -> ok | {error, term()}.
tracemalloc_stop() ->
    ok_or_error(eval(<<"__import__('tracemalloc').stop()">>)).

ok_or_error({ok, _}) -> ok;
ok_or_error(Error) -> Error.

%%% ---------------------------------------------------------------------
%%% Contexts and pools
%%% ---------------------------------------------------------------------

-spec context() -> pid().
context() ->
    py_context_router:get_context().

-spec context(pos_integer()) -> pid().
context(N) ->
    py_context_router:get_context(N).

-spec start_contexts() -> {ok, [pid()]} | {error, term()}.
start_contexts() ->
    py_context_router:start().

-spec start_contexts(map()) -> {ok, [pid()]} | {error, term()}.
start_contexts(Opts) ->
    py_context_router:start(Opts).

-spec stop_contexts() -> ok.
stop_contexts() ->
    py_context_router:stop().

-spec contexts_started() -> boolean().
contexts_started() ->
    py_context_router:is_started().

%% @doc Routes calls to `Module' (or to `{Module, Function}') to `Pool'.
-spec register_pool(atom(), atom() | {atom(), atom()}) -> ok.
register_pool(Pool, Target) ->
    py_context_router:register_pool(Pool, Target).

-spec unregister_pool(atom() | {atom(), atom()}) -> ok.
unregister_pool(Target) ->
    py_context_router:unregister_pool(Target).

%%% ---------------------------------------------------------------------
%%% Streaming from generators (see py_stream)
%%% ---------------------------------------------------------------------

-define(STREAM_IDLE, 30000).

%% @doc All values of the generator (or iterable) `Module.Function(*Args)'
%% returns; gives up after 30 s without a value.
-spec stream(name(), name(), list()) -> {ok, list()} | {error, term()}.
stream(Module, Function, Args) ->
    stream(Module, Function, Args, #{}).

%% @doc As stream/3 with keyword arguments. As in the C library, with
%% kwargs every dotted segment of `Module', `Function' and every kwarg key
%% must be a Python identifier, else `error({invalid_python_identifier,
%% Name})' is raised.
-spec stream(name(), name(), list(), map()) -> {ok, list()} | {error, term()}.
stream(Module, Function, Args, Kwargs) when is_map(Kwargs) ->
    ok = py_stream:check_identifiers(Module, Function, Kwargs),
    py_stream:collect({Module, Function, Args, Kwargs}, ?STREAM_IDLE).

%% @doc All values of the iterable `Code' evaluates to.
-spec stream_eval(iodata()) -> {ok, list()} | {error, term()}.
stream_eval(Code) ->
    stream_eval(Code, #{}).

-spec stream_eval(iodata(), map()) -> {ok, list()} | {error, term()}.
stream_eval(Code, Locals) when is_map(Locals) ->
    py_stream:collect_eval({Code, Locals}, ?STREAM_IDLE).

%% @doc Streams the values of a sync or async generator to the caller as
%% `{py_stream, Ref, {data, V}}', then `{py_stream, Ref, done}' or
%% `{py_stream, Ref, {error, Reason}}', with backpressure.
-spec stream_start(name(), name(), list()) -> {ok, reference()} | {error, term()}.
stream_start(Module, Function, Args) ->
    stream_start(Module, Function, Args, #{}).

%% @doc Options: `owner' (the receiving process, default the caller),
%% `kwargs', and `context' (run the generator in that context, default
%% the caller's).
-spec stream_start(name(), name(), list(), #{owner => pid(), kwargs => map(), context => pid()}) ->
          {ok, reference()} | {error, term()}.
stream_start(Module, Function, Args, Opts) when is_map(Opts) ->
    Kwargs = maps:get(kwargs, Opts, #{}),
    Owner = maps:get(owner, Opts, self()),
    case Opts of
        #{context := Ctx} -> py_stream:start(Ctx, Module, Function, Args, Kwargs, Owner);
        _ -> py_stream:start(Module, Function, Args, Kwargs, Owner)
    end.

%% @doc Stops a stream: the generator is closed (its `finally' runs) and
%% the stream ends with `{error, <<"cancelled">>}'.
-spec stream_cancel(reference()) -> ok.
stream_cancel(Ref) ->
    py_stream:cancel(Ref).

%%% ---------------------------------------------------------------------
%%% SharedDict: a dict shared by Erlang and Python, owned by its creator
%%% ---------------------------------------------------------------------

%% @doc A new dict owned by the caller (destroyed when it dies). Python
%% sees it as `erlang.SharedDict(handle)'. See py_shared_dict.
-spec shared_dict_new() -> {ok, reference()}.
shared_dict_new() ->
    py_shared_dict:new().

%% @doc The value under `Key', or `undefined'.
-spec shared_dict_get(reference(), binary()) -> term().
shared_dict_get(Dict, Key) ->
    py_shared_dict:get(Dict, Key).

-spec shared_dict_get(reference(), binary(), term()) -> term().
shared_dict_get(Dict, Key, Default) ->
    py_shared_dict:get(Dict, Key, Default).

-spec shared_dict_set(reference(), binary(), term()) -> ok | {error, term()}.
shared_dict_set(Dict, Key, Value) ->
    py_shared_dict:set(Dict, Key, Value).

%% @doc Removes `Key' (ok if it was not there).
-spec shared_dict_del(reference(), binary()) -> ok.
shared_dict_del(Dict, Key) ->
    py_shared_dict:del(Dict, Key).

-spec shared_dict_keys(reference()) -> [binary()].
shared_dict_keys(Dict) ->
    py_shared_dict:keys(Dict).

%% @doc Frees the dict now; later operations raise `badarg'. Idempotent.
-spec shared_dict_destroy(reference()) -> ok.
shared_dict_destroy(Dict) ->
    py_shared_dict:destroy(Dict).

%%% ---------------------------------------------------------------------
%%% Environments (see py_import, py_preload, py_venv)
%%% ---------------------------------------------------------------------

%% @doc Alias of py_import:ensure_imported/1.
-spec import(name()) -> ok | {error, term()}.
import(Module) -> py_import:ensure_imported(Module).

%% @doc Alias of py_import:ensure_imported/2.
-spec import(name(), name()) -> ok | {error, term()}.
import(Module, Function) -> py_import:ensure_imported(Module, Function).

-spec add_import(name()) -> ok | {error, term()}.
add_import(Module) -> py_import:ensure_imported(Module).

-spec add_import(name(), name()) -> ok | {error, term()}.
add_import(Module, Function) -> py_import:ensure_imported(Module, Function).

%% @doc Alias of py_import:add_path/1.
-spec add_path(iodata()) -> ok | {error, term()}.
add_path(Path) -> py_import:add_path(Path).

%% @doc Activates a virtual environment in every interpreter (and every
%% context started later): its site-packages go first on `sys.path',
%% through `site.addsitedir', so `.pth' files and editable installs work.
-spec activate_venv(iodata()) -> ok | {error, term()}.
activate_venv(Path) -> py_venv:activate(Path).

%% @doc Restores `sys.path' as it was before activate_venv/1, everywhere.
-spec deactivate_venv() -> ok | {error, term()}.
deactivate_venv() -> py_venv:deactivate().

%% @doc `{ok, #{<<"active">> => false}}', or the active environment with
%% `<<"venv_path">>', `<<"site_packages">>' and `<<"sys_path">>'.
-spec venv_info() -> {ok, map()} | {error, term()}.
venv_info() -> py_venv:info().

%% @doc Creates the environment `Path' if needed, installs `ReqFile' (a
%% requirements `.txt', or a `pyproject.toml' installed editable), then
%% activates it. See py_venv:ensure/3 for the options.
-spec ensure_venv(iodata(), iodata()) -> ok | {error, term()}.
ensure_venv(Path, ReqFile) -> py_venv:ensure(Path, ReqFile, []).

-spec ensure_venv(iodata(), iodata(), list()) -> ok | {error, term()}.
ensure_venv(Path, ReqFile, Opts) -> py_venv:ensure(Path, ReqFile, Opts).

%% @doc `importlib.reload' of `Module' in every interpreter that imported
%% it: `ok' or `{error, [{Context, Reason}]}'.
-spec reload(name()) -> ok | {error, [{pid(), term()}]}.
reload(Module) ->
    py_call:each_interpreter('_reload', [name_bin(Module)]).

%% @doc A copy (`dup(2)') of an OS file descriptor, for Python to own.
-spec dup_fd(non_neg_integer()) -> {ok, non_neg_integer()} | {error, term()}.
dup_fd(Fd) when is_integer(Fd), Fd >= 0 -> py_nif:dup_fd(Fd);
dup_fd(Fd) -> {error, {invalid_fd, Fd}}.

name_bin(N) when is_atom(N) -> atom_to_binary(N);
name_bin(N) when is_list(N) -> unicode:characters_to_binary(N);
name_bin(N) when is_binary(N) -> N.
