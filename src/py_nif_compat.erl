%% @doc The C library's `py_nif' functions that its documentation shows
%% users calling directly, with its arguments and results; the generated
%% `py_nif' hands them here (see crates/py-nif/src/compat.rs):
%%
%% <ul>
%% <li>`py_nif:context_exec(CtxRef, Code, EnvRef)' -> `ok | {error, R}'</li>
%% <li>`py_nif:context_eval(CtxRef, Code, Locals, EnvRef)' -> `{ok, V} | {error, R}'</li>
%% <li>`py_nif:context_call(CtxRef, Module, Function, Args, Kwargs, EnvRef)'
%%     -> `{ok, V} | {error, R}' (`'__main__'' resolves in the env)</li>
%% <li>`py_nif:event_loop_new()' -> `{ok, LoopRef}'; `event_loop_exec(LoopRef, Code)',
%%     `event_loop_eval(LoopRef, Expr)' in the caller's namespace on that loop</li>
%% </ul>
%%
%% `CtxRef' is what `py_context:get_nif_ref/1' returns (a context pid is
%% accepted too); `EnvRef' what `py_context:create_local_env/1' returns.
%% No timeout, as in the C library; `py:interrupt/1' stops the code.
-module(py_nif_compat).

-export([call/2]).

-spec call(atom(), list()) -> term().
call(context_exec, [Ctx, Code, Env]) ->
    with_context(Ctx, fun(Pid) -> py_call:context_exec(Pid, Code, Env) end);
call(context_eval, [Ctx, Code, Locals, Env]) ->
    with_context(Ctx, fun(Pid) -> py_call:context_eval(Pid, Code, Locals, infinity, Env) end);
call(context_call, [Ctx, Module, Function, Args, Kwargs, Env]) ->
    with_context(Ctx, fun(Pid) ->
                              py_call:context_call(Pid, Module, Function, Args, Kwargs, infinity, Env)
                      end);
call(event_loop_new, []) ->
    py_event_loop:new(#{});
call(event_loop_exec, [Loop, Code]) ->
    py_event_loop:exec(Loop, Code);
call(event_loop_eval, [Loop, Code]) ->
    py_event_loop:eval(Loop, Code).

with_context(Ctx, Fun) ->
    case py_loop:context(Ctx) of
        {ok, Pid} -> Fun(Pid);
        {error, _} -> {error, {context_died, noproc}}
    end.
