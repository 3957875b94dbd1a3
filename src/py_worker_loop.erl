%% @private Worker loops (py_context:start_loop/1,2 and friends): an event
%% loop running for good on a context's thread. A watcher process per loop
%% holds the loop's end and tells the owner `{py_loop_exit, Ctx, Result}';
%% the owner's death stops the loop. Unlike the C library's, a context
%% whose loop runs keeps answering call/eval/exec: the loop's wait serves
%% them.
-module(py_worker_loop).

-export([start/2, stop/2, interrupt_for_stop/1, loop_ref/1, submit/5, submit_await/6]).

-define(TAB, py_worker_loops).

start(Ctx, Opts) ->
    Owner = maps:get(owner, Opts, self()),
    Caller = self(),
    case ets:lookup(?TAB, Ctx) of
        [_] ->
            {error, already_running};
        [] ->
            Watcher = spawn(fun() -> watch(Caller, Ctx, Owner) end),
            Mon = monitor(process, Watcher),
            receive
                {Watcher, Result} ->
                    demonitor(Mon, [flush]),
                    Result;
                {'DOWN', Mon, process, _, Reason} ->
                    {error, {loop_exited, Reason}}
            after 30000 ->
                %% The loop may still start later; the watcher keeps
                %% watching it (stop_loop/2 stops it), the caller is told.
                demonitor(Mon, [flush]),
                {error, loop_start_timeout}
            end
    end.

watch(Caller, Ctx, Owner) ->
    case ets:insert_new(?TAB, {Ctx, self()}) of
        false ->
            Caller ! {self(), {error, already_running}};
        true ->
            case py_loop:start_loop(Ctx, [self()]) of
                {ok, Tag} ->
                    OwnerMon = monitor(process, Owner),
                    CtxMon = monitor(process, Ctx),
                    S = #{ctx => Ctx, owner => Owner, tag => Tag, owner_mon => OwnerMon, ctx_mon => CtxMon},
                    %% Told by the loop itself (no request of ours runs on
                    %% the context then, so an interrupt reaches the loop).
                    receive
                        {py_loop_running, Tag} ->
                            Caller ! {self(), ok},
                            watching(S);
                        {Tag, _} = Ended ->
                            self() ! Ended,
                            Caller ! {self(), ok},
                            watching(S);
                        {'DOWN', CtxMon, process, _, Reason} ->
                            ets:delete(?TAB, Ctx),
                            Caller ! {self(), {error, {loop_exited, Reason}}}
                    end;
                Error ->
                    ets:delete(?TAB, Ctx),
                    Caller ! {self(), Error}
            end
    end.

watching(#{ctx := Ctx, owner := Owner, tag := Tag, owner_mon := OwnerMon, ctx_mon := CtxMon} = S) ->
    receive
        {Tag, Result} ->
            ets:delete(?TAB, Ctx),
            Owner ! {py_loop_exit, Ctx, exit_result(Result)};
        {stop, From, Grace} ->
            From ! {self(), stop_and_wait(S, Grace)};
        {interrupt, From} ->
            From ! {self(), interrupt_and_wait(S)};
        {'DOWN', OwnerMon, process, _, _} ->
            _ = stop_and_wait(S, 5000);
        {'DOWN', CtxMon, process, _, Reason} ->
            ets:delete(?TAB, Ctx),
            Owner ! {py_loop_exit, Ctx, {error, {context_died, Reason}}}
    end.

%% Asks the loop to stop; interrupts it if it has not after `Grace' ms.
stop_and_wait(#{ctx := Ctx, owner := Owner, tag := Tag}, Grace) ->
    _ = py_call:context_call(Ctx, '_erlang_loop', '_stop_worker_loop', [], #{}, Grace),
    Result = receive
                 {Tag, R} -> {ok, R}
             after Grace ->
                 _ = py_call:interrupt(Ctx),
                 receive {Tag, R2} -> {ok, R2} after 5000 -> timeout end
             end,
    ets:delete(?TAB, Ctx),
    case Result of
        {ok, Res} -> Owner ! {py_loop_exit, Ctx, exit_result(Res)}, ok;
        timeout -> {error, timeout}
    end.

%% The context is being stopped: the loop is interrupted (not asked to
%% stop), and its owner told so.
interrupt_and_wait(#{ctx := Ctx, owner := Owner, tag := Tag}) ->
    _ = py_call:interrupt(Ctx),
    Result = receive {Tag, R} -> exit_result(R) after 5000 -> {error, interrupted} end,
    ets:delete(?TAB, Ctx),
    Owner ! {py_loop_exit, Ctx, Result},
    ok.

exit_result(Result) ->
    case py_loop:finish(Result) of
        {ok, _} -> {ok, <<"stopped">>};
        {error, {'KeyboardInterrupt', _}} -> {error, interrupted};
        Other -> Other
    end.

stop(Ctx, Grace) ->
    case ets:lookup(?TAB, Ctx) of
        [] ->
            {error, no_loop};
        [{Ctx, Watcher}] ->
            Mon = monitor(process, Watcher),
            Watcher ! {stop, self(), Grace},
            receive
                {Watcher, Result} ->
                    demonitor(Mon, [flush]),
                    Result;
                {'DOWN', Mon, process, _, _} ->
                    %% A watcher that died left its entry: nothing to stop.
                    ets:delete_object(?TAB, {Ctx, Watcher}),
                    {error, no_loop}
            end
    end.

%% @private Called by py_context:stop/2 before the context stops: a
%% running loop is interrupted, so its owner gets `{py_loop_exit, Ctx,
%% {error, interrupted}}'.
interrupt_for_stop(Ctx) ->
    case ets:lookup(?TAB, Ctx) of
        [] ->
            ok;
        [{Ctx, Watcher}] ->
            Mon = monitor(process, Watcher),
            Watcher ! {interrupt, self()},
            receive
                {Watcher, _} -> demonitor(Mon, [flush]), ok;
                {'DOWN', Mon, process, _, _} -> ok
            end
    end.

loop_ref(Ctx) ->
    py_call:context_ref(Ctx).

%% `'__main__'' is the context's own namespace, as for py_context:call.
submit(Ctx, Module, Function, Args, Kwargs) ->
    Ref = py_nif:reply_gate(),
    ok = py_loop:submit(Ctx, Ref, Module, Function, Args, Kwargs, context),
    {ok, Ref}.

submit_await(Ctx, Module, Function, Args, Kwargs, Timeout) ->
    {ok, Ref} = submit(Ctx, Module, Function, Args, Kwargs),
    py_loop:await(Ref, Timeout).
