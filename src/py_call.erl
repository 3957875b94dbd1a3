%% @doc The call engine: every request from Erlang to a Python context
%% goes through here, whichever module it starts from. It routes calls
%% without a context to the caller's context in a pool, turns timeouts into
%% deadlines carried by the request, holds the call limiter's slot, keeps
%% each process's namespaces, waits for the reply while serving the
%% request's callbacks into Erlang, and decodes the reply.
%%
%% `py' and `py_context' are its public faces (their documentation
%% describes each function); feature modules (streams, event loops, venvs,
%% environments) call it directly, never `py'.
-module(py_call).

%% Routed and explicit calls (the `py' API).
-export([call/3, call/4, call/5, eval/1, eval/2, eval/3, exec/1, exec/2]).
-export([cast/3, cast/4, cast/5, spawn_call/3, spawn_call/4, spawn_call/5,
         await/1, await/2, parallel/1]).
-export([is_ref/1, getattr/2, call_method/3, to_term/1, get_local_env/1]).
%% Requests on one context in its own or a given namespace (the
%% `py_context' API).
-export([context_call/4, context_call/5, context_call/6, context_call/7,
         context_eval/2, context_eval/3, context_eval/4, context_eval/5,
         context_exec/2, context_exec/3, context_call_method/4, handle_to_term/1,
         new_env/1, local_env/1, local_env/2, interrupt/1, context_ref/1]).
%% Every interpreter at once.
-export([each_interpreter/2]).
%% The primitives the rest of the library builds requests from.
-export([request/3, request/4, submit_and_wait/3, submit_and_wait/4, submit_call/9,
         await/4, await/5, finish/2, deadline/1, valid_timeout/1, source/1]).

-define(DEFAULT_TIMEOUT, 30000).
%% Request flags understood by the NIF (generated from crates/py-nif).
-include("py_nif_flags.hrl").
%% How often a caller waiting for a free call slot checks again even
%% without being told (a wake-up may go to a waiter that gave up).
-define(OVERLOAD_RECHECK, 5).
%% How long one interpreter may take to apply a change (each_interpreter/2).
-define(APPLY_TIMEOUT, 60000).

-type name() :: atom() | binary() | string().
-type env_ref() :: reference().
%% An Erlang monotonic time in milliseconds, or `infinity'.
-type deadline() :: integer() | infinity.
-type result() :: {ok, term()} | {error, term()}.
-export_type([name/0, env_ref/0, deadline/0, result/0]).

%%% ---------------------------------------------------------------------
%%% Calls
%%% ---------------------------------------------------------------------
-spec call(name(), name(), list()) -> result().
call(Module, Function, Args) ->
    routed_call(py_context_router:lookup_pool(Module, Function), Module, Function, Args, #{}, ?DEFAULT_TIMEOUT).

-spec call(pid() | atom() | name(), name(), name() | list(), list() | map()) -> result().
call(Ctx, Module, Function, Args) when is_pid(Ctx) ->
    explicit_call(Ctx, Module, Function, Args, #{}, infinity);
call(Pool, Module, Function, Args) when is_atom(Pool), is_list(Args) ->
    routed_call(Pool, Module, Function, Args, #{}, ?DEFAULT_TIMEOUT);
call(Module, Function, Args, Kwargs) when is_list(Args), is_map(Kwargs) ->
    routed_call(py_context_router:lookup_pool(Module, Function), Module, Function, Args, Kwargs, ?DEFAULT_TIMEOUT).

-spec call(pid() | atom() | name(), name(), name() | list(), list() | map(), map() | timeout()) -> result().
call(Ctx, Module, Function, Args, Opts) when is_pid(Ctx), is_map(Opts) ->
    case arrays_flag(maps:get(arrays, Opts, lists)) of
        {ok, Flags} ->
            explicit(Ctx, maps:get(timeout, Opts, infinity),
                     call_submit(Module, Function, Args, maps:get(kwargs, Opts, #{})),
                     maps:get(traceback, Opts, false), Flags);
        error ->
            {error, {bad_argument, arrays}}
    end;
call(Pool, Module, Function, Args, Kwargs) when is_atom(Pool), is_list(Args), is_map(Kwargs) ->
    routed_call(Pool, Module, Function, Args, Kwargs, ?DEFAULT_TIMEOUT);
call(Module, Function, Args, Kwargs, Timeout) when is_list(Args), is_map(Kwargs) ->
    routed_call(py_context_router:lookup_pool(Module, Function), Module, Function, Args, Kwargs, Timeout).

-spec eval(iodata()) -> result().
eval(Code) ->
    routed(default, ?DEFAULT_TIMEOUT, 0, eval_submit(Code, #{})).

-spec eval(pid() | iodata(), iodata() | map()) -> result().
eval(Ctx, Code) when is_pid(Ctx) ->
    explicit(Ctx, infinity, eval_submit(Code, #{}));
eval(Code, Locals) when is_map(Locals) ->
    routed(default, ?DEFAULT_TIMEOUT, 0, eval_submit(Code, Locals)).

-spec eval(pid() | iodata(), iodata() | map(), map() | timeout()) -> result().
eval(Ctx, Code, Locals) when is_pid(Ctx), is_map(Locals) ->
    explicit(Ctx, infinity, eval_submit(Code, Locals));
eval(Code, Locals, Timeout) when is_map(Locals) ->
    routed(default, Timeout, 0, eval_submit(Code, Locals)).

-spec exec(iodata()) -> ok | {error, term()}.
exec(Code) ->
    routed(default, infinity, 0, exec_submit(Code)).

-spec exec(pid(), iodata()) -> ok | {error, term()}.
exec(Ctx, Code) when is_pid(Ctx) ->
    explicit(Ctx, infinity, exec_submit(Code)).

%% Requests built for `routed/4' and `explicit/3': funs of the context,
%% the tag, the caller's namespace, the flags and the deadline.
call_submit(Module, Function, Args, Kwargs) ->
    NeedsEnv = is_main(Module),
    {NeedsEnv, fun(Ctx, Tag, Env, Flags, Deadline) ->
                   submit_call(Ctx, Tag, Module, Function, Args, Kwargs, Env, Flags, Deadline)
               end}.

eval_submit(Code, Locals) ->
    Source = source(Code),
    {true, fun(Ctx, Tag, Env, Flags, Deadline) ->
                   py_nif:context_eval(Ctx, Tag, Source, Locals, Env, Flags, Deadline)
           end}.

exec_submit(Code) ->
    Source = source(Code),
    {true, fun(Ctx, Tag, Env, Flags, Deadline) -> py_nif:context_exec(Ctx, Tag, Source, Env, Flags, Deadline) end}.

explicit_call(Ctx, Module, Function, Args, Kwargs, Timeout) ->
    explicit(Ctx, Timeout, call_submit(Module, Function, Args, Kwargs)).

routed_call(Pool, Module, Function, Args, Kwargs, Timeout) ->
    routed(Pool, Timeout, limiter_flag(), call_submit(Module, Function, Args, Kwargs)).

%% Calls made by an Erlang function that Python called are part of the call
%% that was already admitted: counting them again could deadlock a nest of
%% callbacks deeper than the limit.
limiter_flag() ->
    case py_callback:serving() of
        true -> 0;
        false -> ?FLAG_COUNTED
    end.

%% A request on an explicit context, in the caller's namespace.
explicit(Ctx, Timeout, Request) ->
    explicit(Ctx, Timeout, Request, false, 0).

%% How arrays in the result come back: `lists' (the default) or `tensor'
%% (`{tensor, Type, Shape, Binary}', see py-convert's tensor module).
arrays_flag(lists) -> {ok, 0};
arrays_flag(tensor) -> {ok, ?FLAG_TENSORS};
arrays_flag(_) -> error.

explicit(Ctx, Timeout, {NeedsEnv, Submit}, WantTraceback, Flags) ->
    case valid_timeout(Timeout) of
        false ->
            {error, {bad_argument, timeout}};
        true ->
            Deadline = deadline(Timeout),
            case caller_env(Ctx, NeedsEnv, Deadline) of
                {ok, Env} ->
                    Request = fun(C, Tag, D) -> Submit(C, Tag, Env, Flags, D) end,
                    case submit_and_wait(Ctx, Deadline, Request, WantTraceback) of
                        {error, not_submitted, Reason} -> {error, {context_died, Reason}};
                        Result -> Result
                    end;
                {error, _} = Error ->
                    Error
            end
    end.

%% A request on the caller's context of `Pool'. One that never reached its
%% context (the context had just died) is retried once on a fresh one; one
%% refused by the call limiter waits for a free slot until the timeout.
routed(Pool, Timeout, Flags, Request) ->
    case valid_timeout(Timeout) of
        true -> routed(Pool, Timeout, deadline(Timeout), Flags, Request, 1);
        false -> {error, {bad_argument, timeout}}
    end.

routed(Pool, Timeout, Deadline, Flags, {NeedsEnv, Submit} = Request, Retries) ->
    Ctx = py_context_router:context_for_call(Pool),
    Result = case caller_env(Ctx, NeedsEnv, Deadline) of
                 {ok, Env} ->
                     submit_and_wait(Ctx, Deadline,
                                                fun(C, Tag, D) -> Submit(C, Tag, Env, Flags, D) end);
                 {error, {context_died, Reason}} ->
                     {error, not_submitted, Reason};
                 {error, _} = Error ->
                     Error
             end,
    case Result of
        {error, not_submitted, _} when Retries > 0 ->
            ok = py_context_router:forget_context(Pool),
            routed(Pool, Timeout, Deadline, Flags, Request, Retries - 1);
        {error, not_submitted, Reason2} ->
            {error, {context_died, Reason2}};
        {error, {overloaded, _, _}} = Overloaded ->
            Final = case wait_for_slot(Deadline) of
                        ok -> routed(Pool, Timeout, Deadline, Flags, Request, Retries);
                        timeout -> Overloaded
                    end,
            stop_waiting_for_slot(),
            Final;
        _ ->
            Result
    end.

%% Leaves the limiter's waiter queue and drops a wake-up already sent.
stop_waiting_for_slot() ->
    ok = py_nif:semaphore_forget(),
    receive py_semaphore_free -> ok after 0 -> ok end.

wait_for_slot(Deadline) ->
    case remaining(Deadline) of
        0 -> timeout;
        Left ->
            receive py_semaphore_free -> ok
            after min(Left, ?OVERLOAD_RECHECK) -> ok
            end
    end.

%% The caller's namespace on `Ctx', when the request needs one (made
%% within the request's deadline).
caller_env(_Ctx, false, _Deadline) -> {ok, undefined};
caller_env(Ctx, true, Deadline) -> local_env(Ctx, Deadline).

is_main('__main__') -> true;
is_main(<<"__main__">>) -> true;
is_main("__main__") -> true;
is_main(_) -> false.

%%% ---------------------------------------------------------------------
%%% Fire-and-forget, deferred results, fan-out
%%% ---------------------------------------------------------------------
-spec cast(name(), name(), list()) -> ok.
cast(Module, Function, Args) ->
    cast(py_context_router:get_context(), Module, Function, Args, #{}).

-spec cast(pid() | name(), name(), name() | list(), list() | map()) -> ok.
cast(Ctx, Module, Function, Args) when is_pid(Ctx) ->
    cast(Ctx, Module, Function, Args, #{});
cast(Module, Function, Args, Kwargs) when is_map(Kwargs) ->
    cast(py_context_router:get_context(), Module, Function, Args, Kwargs).

-spec cast(pid(), name(), name(), list(), map()) -> ok.
cast(Ctx, Module, Function, Args, Kwargs) when is_pid(Ctx) ->
    _ = submit_detached(Ctx, make_ref(), Module, Function, Args, Kwargs, ?FLAG_NOREPLY),
    ok.

-spec spawn_call(name(), name(), list()) -> reference().
spawn_call(Module, Function, Args) ->
    spawn_call(py_context_router:get_context(), Module, Function, Args, #{}).

-spec spawn_call(pid() | name(), name(), name() | list(), list() | map()) -> reference().
spawn_call(Ctx, Module, Function, Args) when is_pid(Ctx) ->
    spawn_call(Ctx, Module, Function, Args, #{});
spawn_call(Module, Function, Args, Kwargs) when is_map(Kwargs) ->
    spawn_call(py_context_router:get_context(), Module, Function, Args, Kwargs).

%% The reference is a reply gate: once await/2 gives up on it, the reply
%% is not sent (no late message).
-spec spawn_call(pid(), name(), name(), list(), map()) -> reference().
spawn_call(Ctx, Module, Function, Args, Kwargs) when is_pid(Ctx) ->
    Ref = py_nif:reply_gate(),
    _ = case submit_detached(Ctx, Ref, Module, Function, Args, Kwargs, ?FLAG_RESPONSE) of
            Seq when is_integer(Seq) -> ok;
            {error, context_stopped} -> self() ! {py_response, Ref, {error, {context_died, noproc}}};
            {error, Reason} -> self() ! {py_response, Ref, {error, Reason}}
        end,
    Ref.

%% `'__main__'' is the caller's namespace, as for call/3.
submit_detached(Ctx, Tag, Module, Function, Args, Kwargs, Flags) ->
    case caller_env(Ctx, is_main(Module), infinity) of
        {ok, Env} ->
            submit_call(Ctx, Tag, Module, Function, Args, Kwargs, Env, Flags, infinity);
        {error, Reason} ->
            {error, Reason}
    end.

-spec await(reference()) -> result().
await(Ref) ->
    await(Ref, ?DEFAULT_TIMEOUT).

-spec await(reference(), timeout()) -> result().
await(Ref, Timeout) ->
    receive
        {py_response, Ref, Result} -> finish(Result, false);
        {py_error, Ref, Error} -> {error, Error}
    after Timeout ->
        %% No reply may come after this: the gate closes, and a reply sent
        %% before it closed is taken now.
        _ = catch py_nif:reply_gate_close(Ref),
        receive
            {py_response, Ref, Result} -> finish(Result, false)
        after 0 ->
            {error, timeout}
        end
    end.

-spec parallel([{name(), name(), list()}]) -> {ok, [term()]} | {error, term()}.
parallel(Calls) ->
    Contexts = list_to_tuple(py_context_router:contexts()),
    N = tuple_size(Contexts),
    Pending = [start_parallel(element((I rem N) + 1, Contexts), Call)
               || {I, Call} <- lists:zip(lists:seq(0, length(Calls) - 1), Calls)],
    Results = [finish_parallel(P) || P <- Pending],
    case [E || {error, _} = E <- Results] of
        [] -> {ok, [V || {ok, V} <- Results]};
        [First | _] -> First
    end.

start_parallel(Ctx, {Module, Function, Args}) ->
    Tag = erlang:monitor(process, Ctx),
    Deadline = deadline(?DEFAULT_TIMEOUT),
    case submit_call(Ctx, Tag, Module, Function, Args, #{}, undefined, 0, Deadline) of
        Seq when is_integer(Seq) -> {pending, Ctx, Tag, Seq};
        {error, context_stopped} -> erlang:demonitor(Tag, [flush]), {done, {error, {context_died, noproc}}};
        Error -> erlang:demonitor(Tag, [flush]), {done, Error}
    end.

finish_parallel({pending, Ctx, Tag, Seq}) ->
    case await(Ctx, Tag, Seq, ?DEFAULT_TIMEOUT) of
        {error, not_submitted, Reason} -> {error, {context_died, Reason}};
        Result -> Result
    end;
finish_parallel({done, Result}) -> Result.

%%% ---------------------------------------------------------------------
%%% Object handles and namespaces
%%% ---------------------------------------------------------------------
-spec is_ref(term()) -> boolean().
is_ref(Term) ->
    py_nif:is_ref(Term).

-spec getattr(reference(), name()) -> result().
getattr(ObjRef, Name) ->
    on_handle(ObjRef, fun(Tag) -> py_nif:ref_getattr(ObjRef, Tag, Name, 0) end).

-spec call_method(reference(), name(), list()) -> result().
call_method(ObjRef, Method, Args) ->
    on_handle(ObjRef, fun(Tag) -> py_nif:ref_call_method(ObjRef, Tag, Method, Args, #{}, 0) end).

-spec to_term(reference()) -> result().
to_term(ObjRef) ->
    on_handle(ObjRef, fun(Tag) -> py_nif:ref_to_term(ObjRef, Tag, 0) end).

on_handle(ObjRef, Submit) ->
    case py_nif:is_ref(ObjRef) of
        false ->
            {error, {not_a_ref, ObjRef}};
        true ->
            case py_nif:ref_context(ObjRef) of
                Ctx when is_pid(Ctx) ->
                    request(Ctx, ?DEFAULT_TIMEOUT, fun(_C, Tag, _Deadline) -> Submit(Tag) end);
                undefined ->
                    {error, {context_died, noproc}}
            end
    end.

-spec get_local_env(pid()) -> reference().
get_local_env(Ctx) ->
    {ok, Env} = local_env(Ctx),
    Env.

%%% ---------------------------------------------------------------------
%%% Calls (run in the caller's process)
%%% ---------------------------------------------------------------------
-spec context_call(pid(), name(), name(), list()) -> {ok, term()} | {error, term()}.
context_call(Ctx, Module, Function, Args) ->
    context_call(Ctx, Module, Function, Args, #{}, infinity, undefined).

-spec context_call(pid(), name(), name(), list(), map()) -> {ok, term()} | {error, term()}.
context_call(Ctx, Module, Function, Args, Kwargs) ->
    context_call(Ctx, Module, Function, Args, Kwargs, infinity, undefined).

-spec context_call(pid(), name(), name(), list(), map(), timeout()) -> {ok, term()} | {error, term()}.
context_call(Ctx, Module, Function, Args, Kwargs, Timeout) ->
    context_call(Ctx, Module, Function, Args, Kwargs, Timeout, undefined).

-spec context_call(pid(), name(), name(), list(), map(), timeout(), env_ref() | undefined) ->
          {ok, term()} | {error, term()}.
context_call(Ctx, Module, Function, Args, Kwargs, Timeout, EnvRef) ->
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

-spec context_eval(pid(), iodata()) -> {ok, term()} | {error, term()}.
context_eval(Ctx, Code) ->
    context_eval(Ctx, Code, #{}, infinity, undefined).

-spec context_eval(pid(), iodata(), map()) -> {ok, term()} | {error, term()}.
context_eval(Ctx, Code, Locals) ->
    context_eval(Ctx, Code, Locals, infinity, undefined).

-spec context_eval(pid(), iodata(), map(), timeout()) -> {ok, term()} | {error, term()}.
context_eval(Ctx, Code, Locals, Timeout) ->
    context_eval(Ctx, Code, Locals, Timeout, undefined).

-spec context_eval(pid(), iodata(), map(), timeout(), env_ref() | undefined) -> {ok, term()} | {error, term()}.
context_eval(Ctx, Code, Locals, Timeout, EnvRef) ->
    Source = source(Code),
    request(Ctx, Timeout, fun(C, Tag, Deadline) -> py_nif:context_eval(C, Tag, Source, Locals, EnvRef, 0, Deadline) end).

-spec context_exec(pid(), iodata()) -> ok | {error, term()}.
context_exec(Ctx, Code) ->
    context_exec(Ctx, Code, undefined).

-spec context_exec(pid(), iodata(), env_ref() | undefined) -> ok | {error, term()}.
context_exec(Ctx, Code, EnvRef) ->
    Source = source(Code),
    request(Ctx, infinity, fun(C, Tag, Deadline) -> py_nif:context_exec(C, Tag, Source, EnvRef, 0, Deadline) end).

-spec context_call_method(pid(), reference(), name(), list()) -> {ok, term()} | {error, term()}.
context_call_method(Ctx, ObjRef, Method, Args) ->
    request(Ctx, infinity, fun(_C, Tag, _Deadline) -> py_nif:ref_call_method(ObjRef, Tag, Method, Args, #{}, 0) end).

-spec handle_to_term(reference()) -> {ok, term()} | {error, term()}.
handle_to_term(ObjRef) ->
    case py_nif:ref_context(ObjRef) of
        Ctx when is_pid(Ctx) ->
            request(Ctx, infinity, fun(_C, Tag, _Deadline) -> py_nif:ref_to_term(ObjRef, Tag, 0) end);
        undefined ->
            {error, {context_died, noproc}}
    end.

-spec new_env(pid()) -> {ok, env_ref()} | {error, term()}.
new_env(Ctx) ->
    request(Ctx, infinity, fun(C, Tag, _Deadline) -> py_nif:context_new_env(C, Tag) end).

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
%%% Contexts and interpreters
%%% ---------------------------------------------------------------------

%% @doc Raises KeyboardInterrupt in the code running on the context; the
%% call in flight returns `{error, interrupted}'.
-spec interrupt(pid()) -> ok | not_running.
interrupt(Ctx) ->
    py_nif:context_interrupt(Ctx, all).

%% @doc The NIF resource of a live context. Nothing caches it: requests
%% name the context by its pid, so a stopped context leaves no reference
%% behind in the processes that used it.
-spec context_ref(pid()) -> {ok, reference()} | error.
context_ref(Ctx) when is_pid(Ctx) ->
    py_nif:context_ref(Ctx);
context_ref(_) ->
    error.

%% @doc Calls `erlang.Function(*Args)' in every live interpreter, in
%% parallel. `ok', or the failures as `{error, [{Context, Reason}]}'.
-spec each_interpreter(atom(), list()) -> ok | {error, [{pid(), term()}]}.
each_interpreter(Function, Args) ->
    Contexts = one_per_interpreter(),
    Self = self(),
    Pids = [spawn_link(fun() ->
                               Self ! {self(), Ctx, context_call(Ctx, erlang, Function, Args, #{}, ?APPLY_TIMEOUT)}
                       end) || Ctx <- Contexts],
    Failures = [{Ctx, Reason} || Pid <- Pids,
                                 {Ctx, {error, Reason}} <- [receive {Pid, C, R} -> {C, R} end],
                                 not stopped(Reason)],
    case Failures of
        [] -> ok;
        _ -> {error, Failures}
    end.

%% A context that stopped meanwhile has nothing left to update.
stopped({context_died, _}) -> true;
stopped(_) -> false.

one_per_interpreter() ->
    Infos = [{Pid, Info} || Pid <- py_context_registry:all(), {ok, Info} <- [py_context_registry:info(Pid)]],
    maps:values(maps:from_list([{maps:get(interp_id, Info), Pid} || {Pid, Info} <- Infos])).
