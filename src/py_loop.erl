%% @private Requests to an event loop running on a context: starting the
%% loop, submitting tasks, waiting for their results. Shared by the main
%% loop (py_event_loop), the loop pool (py_event_loop_pool) and worker loops
%% (py_worker_loop); it knows nothing of who owns the loop.
-module(py_loop).

-export([start_loop/1, start_loop/2, submit/6, submit/7, await/1, await/2, finish/1, context/1, handle/1]).

-define(DEFAULT_AWAIT, 5000).
%% Request flags understood by the NIF (generated from crates/py-nif).
-include("py_nif_flags.hrl").

%% @private Starts an event loop on context `Loop'; its reply, when the
%% loop ends, comes to the caller as `{Tag, Result}'. Returns the tag.
start_loop(Loop) ->
    start_loop(Loop, []).

%% @private As start_loop/1; with `Notify' `[Pid]', Pid gets
%% `{py_loop_running, Tag}' once the loop runs.
start_loop(Loop, Notify) ->
    Tag = make_ref(),
    Default = whereis(py_event_loop) =:= self(),
    %% The loop's coroutines call back through py_callback: the starter
    %% is not waiting to serve them.
    Args = [Default | [X || Pid <- Notify, X <- [Pid, Tag]]],
    case py_nif:context_call(Loop, Tag, '_erlang_loop', '_run_worker_loop', Args, #{},
                             undefined, ?FLAG_NO_CALLBACKS, infinity) of
        Seq when is_integer(Seq) -> {ok, Tag};
        Error -> Error
    end.

%% @private The context process running a loop: loops are named by their
%% reference (what `get_loop/0' and `py_context:loop_ref/1' return) or by
%% the context's pid.
-spec context(reference() | pid()) -> {ok, pid()} | {error, loop_not_running}.
context(Loop) when is_pid(Loop) ->
    {ok, Loop};
context(Loop) when is_reference(Loop) ->
    case py_context_registry:owner(Loop) of
        {ok, Pid} -> {ok, Pid};
        error -> {error, loop_not_running}
    end;
context(_) ->
    {error, loop_not_running}.

%% @private The reference that names the loop running on context `Ctx'.
-spec handle(pid()) -> {ok, reference()} | {error, loop_not_running}.
handle(Ctx) ->
    case py_context_registry:lookup(Ctx) of
        {ok, Ref} -> {ok, Ref};
        error -> {error, loop_not_running}
    end.

%% @private Submits a task to loop `Loop'; `Ref' `undefined' means no
%% result is wanted. Failures to submit are reported as the result.
submit(Loop, Ref, Module, Function, Args, Kwargs) ->
    submit(Loop, Ref, Module, Function, Args, Kwargs, caller).

%% @private `Namespace': `caller' (the caller's process-local namespace for
%% `'__main__'') or `context' (the context's own, as py_context:call uses).
submit(LoopOrRef, Ref, Module, Function, Args, Kwargs, Namespace) ->
    case context(LoopOrRef) of
        {ok, Loop} -> submit_to(Loop, Ref, Module, Function, Args, Kwargs, Namespace);
        {error, Reason} -> report_failure(Ref, Reason)
    end.

submit_to(Loop, Ref, Module, Function, Args, Kwargs, Namespace) ->
    {Flags, Tag} = case Ref of
                       undefined -> {?FLAG_TASK bor ?FLAG_NOREPLY, make_ref()};
                       _ -> {?FLAG_TASK, Ref}
                   end,
    Result = case case Namespace of
                      caller -> namespace(Loop, Module);
                      context -> {ok, undefined}
                  end of
                 {ok, Env} ->
                     case py_call:submit_call(Loop, Tag, Module, Function, Args, Kwargs, Env, Flags, infinity) of
                         {error, context_stopped} -> {error, loop_not_running};
                         Other -> Other
                     end;
                 Error ->
                     Error
             end,
    case Result of
        Seq when is_integer(Seq) -> ok;
        {error, Reason} -> report_failure(Ref, Reason)
    end.

report_failure(undefined, Reason) -> {error, Reason};
report_failure(Ref, Reason) -> self() ! {async_result, Ref, {error, Reason}}, ok.

%% @private Turns an `{async_result, _, Result}' into `{ok, V} | {error, R}'.
finish(Result) ->
    case py_call:finish(Result, false) of
        ok -> {ok, none};
        Other -> Other
    end.

%% @doc Waits for a task's result (default 5000 ms). After a timeout no
%% result message for `Ref' arrives any more.
-spec await(reference()) -> {ok, term()} | {error, term()}.
await(Ref) ->
    await(Ref, ?DEFAULT_AWAIT).

-spec await(reference(), timeout()) -> {ok, term()} | {error, term()}.
await(Ref, Timeout) ->
    receive
        {async_result, Ref, Result} -> finish(Result)
    after Timeout ->
        _ = catch py_nif:reply_gate_close(Ref),
        receive
            {async_result, Ref, Result} -> finish(Result)
        after 0 ->
            {error, timeout}
        end
    end.

%% '__main__' functions resolve in the caller's namespace for the loop's
%% interpreter (where exec/1 put them).
namespace(Loop, Module) ->
    case is_main(Module) of
        true ->
            case py_call:local_env(Loop) of
                {ok, Env} -> {ok, Env};
                Error -> Error
            end;
        false ->
            {ok, undefined}
    end.

is_main('__main__') -> true;
is_main(<<"__main__">>) -> true;
is_main("__main__") -> true;
is_main(_) -> false.
