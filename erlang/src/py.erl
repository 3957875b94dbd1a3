%% @doc The main API: call Python functions, evaluate expressions and run
%% statements from Erlang.
%%
%% Calls without an explicit context go to the caller's context in the
%% default pool (picked once per process, then sticky, so a process's calls
%% run in order on one thread) with a 30 second timeout; a timeout
%% interrupts the Python code and returns `{error, timeout}'. Calls on an
%% explicit context (a pid) have no timeout unless given one.
%%
%% Module and function names may be atoms, binaries or strings. Python
%% exceptions come back as `{error, {Class, Message}}' with the class name as
%% an atom and the message as a string.
-module(py).

-export([call/3, call/4, call/5, eval/1, eval/2, eval/3, exec/1, exec/2]).
-export([version/0, execution_mode/0, subinterp_supported/0, interrupt/1]).
-export([context/0, context/1, start_contexts/0, start_contexts/1, stop_contexts/0,
         contexts_started/0]).

-define(DEFAULT_TIMEOUT, 30000).

-type name() :: py_context:name().
-type result() :: {ok, term()} | {error, term()}.

%%% ---------------------------------------------------------------------
%%% Calls
%%% ---------------------------------------------------------------------

%% @doc `Module.Function(*Args)'.
-spec call(name(), name(), list()) -> result().
call(Module, Function, Args) ->
    routed_call(default, Module, Function, Args, #{}, ?DEFAULT_TIMEOUT).

%% @doc `call(Ctx, Module, Function, Args)' on an explicit context (no
%% timeout), `call(Pool, Module, Function, Args)' on a named pool, or
%% `call(Module, Function, Args, Kwargs)' with keyword arguments.
-spec call(pid() | atom() | name(), name(), name() | list(), list() | map()) -> result().
call(Ctx, Module, Function, Args) when is_pid(Ctx) ->
    py_context:call(Ctx, Module, Function, Args, #{}, infinity);
call(Pool, Module, Function, Args) when is_atom(Pool), is_list(Args) ->
    routed_call(Pool, Module, Function, Args, #{}, ?DEFAULT_TIMEOUT);
call(Module, Function, Args, Kwargs) when is_list(Args), is_map(Kwargs) ->
    routed_call(default, Module, Function, Args, Kwargs, ?DEFAULT_TIMEOUT).

%% @doc `call(Ctx, M, F, Args, #{kwargs => Kw, timeout => T})',
%% `call(Pool, M, F, Args, Kwargs)' or `call(M, F, Args, Kwargs, Timeout)'.
-spec call(pid() | atom() | name(), name(), name() | list(), list() | map(), map() | timeout()) -> result().
call(Ctx, Module, Function, Args, Opts) when is_pid(Ctx), is_map(Opts) ->
    py_context:call(Ctx, Module, Function, Args, maps:get(kwargs, Opts, #{}),
                    maps:get(timeout, Opts, infinity));
call(Pool, Module, Function, Args, Kwargs) when is_atom(Pool), is_list(Args), is_map(Kwargs) ->
    routed_call(Pool, Module, Function, Args, Kwargs, ?DEFAULT_TIMEOUT);
call(Module, Function, Args, Kwargs, Timeout) when is_list(Args), is_map(Kwargs) ->
    routed_call(default, Module, Function, Args, Kwargs, Timeout).

%% @doc Evaluates a Python expression.
-spec eval(iodata()) -> result().
eval(Code) ->
    routed(default, ?DEFAULT_TIMEOUT, eval_submit(Code, #{})).

%% @doc `eval(Ctx, Code)' on an explicit context, or `eval(Code, Locals)'.
-spec eval(pid() | iodata(), iodata() | map()) -> result().
eval(Ctx, Code) when is_pid(Ctx) ->
    py_context:eval(Ctx, Code, #{}, infinity);
eval(Code, Locals) when is_map(Locals) ->
    routed(default, ?DEFAULT_TIMEOUT, eval_submit(Code, Locals)).

%% @doc `eval(Ctx, Code, Locals)' or `eval(Code, Locals, Timeout)'.
-spec eval(pid() | iodata(), iodata() | map(), map() | timeout()) -> result().
eval(Ctx, Code, Locals) when is_pid(Ctx), is_map(Locals) ->
    py_context:eval(Ctx, Code, Locals, infinity);
eval(Code, Locals, Timeout) when is_map(Locals) ->
    routed(default, Timeout, eval_submit(Code, Locals)).

%% @doc Executes Python statements (no timeout).
-spec exec(iodata()) -> ok | {error, term()}.
exec(Code) ->
    Source = source(Code),
    routed(default, infinity, fun(Ref, Tag) -> py_nif:context_exec(Ref, Tag, Source, #{}) end).

-spec exec(pid(), iodata()) -> ok | {error, term()}.
exec(Ctx, Code) when is_pid(Ctx) ->
    py_context:exec(Ctx, Code).

routed_call(Pool, Module, Function, Args, Kwargs, Timeout) ->
    routed(Pool, Timeout, fun(Ref, Tag) ->
        py_context:submit_call(Ref, Tag, Module, Function, Args, Kwargs, #{})
    end).

eval_submit(Code, Locals) ->
    Source = source(Code),
    fun(Ref, Tag) -> py_nif:context_eval(Ref, Tag, Source, Locals, #{}) end.

%% Runs a request on the caller's context of `Pool'. A request that never
%% reached its context (the context had just died) is retried once on a
%% freshly picked one.
routed(Pool, Timeout, Submit) ->
    case py_context:submit_and_wait(py_context_router:get_context(Pool), Timeout, Submit) of
        {error, not_submitted, _} ->
            ok = py_context_router:forget_context(Pool),
            py_context:request(py_context_router:get_context(Pool), Timeout, Submit);
        Result ->
            Result
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

%%% ---------------------------------------------------------------------
%%% Contexts
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
