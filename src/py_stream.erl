%% @doc Streaming the values of a Python generator (sync or async) to an
%% Erlang process, with backpressure and cancellation.
%%
%% The generator is made by an ordinary call in the caller's process (so
%% `'__main__'' functions from the caller's `py:exec' resolve, and kwargs
%% travel as values: no Python source is built). Its values are then sent
%% by the context thread straight to the owner as `{py_stream, Ref,
%% {data, V}}', then `{py_stream, Ref, done}' or `{py_stream, Ref, {error,
%% Reason}}' (Reason as `py:call' reports a Python exception: `{Class,
%% Message}' or `interrupted'). A relay process lends the generator credit,
%% `?WINDOW' values at a time, only while the owner's mailbox holds fewer
%% than `?HIGH_WATER' messages: a fast generator cannot flood a slow owner.
%% `Ref' is an alias of the relay: `cancel/1' closes the generator (its
%% `finally' runs), interrupting it if it is computing or blocked, and the
%% stream ends with `{error, <<"cancelled">>}'; so does the owner's death.
%% The relay watches the driver's request itself: however the driver ends
%% (even when it cannot send), the owner gets an end message.
-module(py_stream).

-export([start/5, start/6, cancel/1, collect/2, collect_eval/2, check_identifiers/3]).

%% Request flags understood by the NIF (crates/py-nif/src/request.rs).
-include("py_nif_flags.hrl").

%% Values lent to the generator at a time.
-define(WINDOW, 256).
%% Owner mailbox length above which no more credit is lent.
-define(HIGH_WATER, 1024).
%% How often a relay whose owner lags looks at its mailbox again (ms).
-define(RECHECK, 2).
%% How long a cancelled driver may take to close its generator (which runs
%% its `finally') before it is interrupted (ms): one that computes or
%% blocks would never see the closed credit channel.
-define(CANCEL_GRACE, 200).
%% How long a relay whose context died waits for its driver to end the
%% stream itself (ms).
-define(DRIVER_END_WAIT, 5000).
%% Longest wait for the next event when collecting (ms).
-define(IDLE_TIMEOUT, 30000).

%% @doc Starts streaming `Module.Function(*Args, **Kwargs)' to `Owner'.
-spec start(py_call:name(), py_call:name(), list(), map(), pid()) -> {ok, reference()} | {error, term()}.
start(Module, Function, Args, Kwargs, Owner) when is_pid(Owner) ->
    source(py_call:call(Module, Function, Args, Kwargs), Owner);
start(_Module, _Function, _Args, _Kwargs, _Owner) ->
    {error, {bad_argument, owner}}.

%% @doc start/5 with the generator made (and run) in context `Ctx'.
-spec start(pid(), py_call:name(), py_call:name(), list(), map(), pid()) -> {ok, reference()} | {error, term()}.
start(Ctx, Module, Function, Args, Kwargs, Owner) when is_pid(Ctx), is_pid(Owner) ->
    source(py_call:context_call(Ctx, Module, Function, Args, Kwargs), Owner);
start(Ctx, _Module, _Function, _Args, _Kwargs, Owner) when is_pid(Owner) ->
    {error, {bad_argument, {context, Ctx}}};
start(_Ctx, _Module, _Function, _Args, _Kwargs, _Owner) ->
    {error, {bad_argument, owner}}.

%% @doc Collects every value of the stream of `Module.Function(*Args,
%% **Kwargs)'. An error after some values were received keeps them:
%% `{error, {partial, Values, Reason}}'.
-spec collect({py_call:name(), py_call:name(), list(), map()}, timeout()) -> {ok, list()} | {error, term()}.
collect({Module, Function, Args, Kwargs}, Idle) ->
    case start(Module, Function, Args, Kwargs, self()) of
        {ok, Ref} -> gather(Ref, Idle, []);
        Error -> Error
    end.

%% The locals of an eval are a mapping the expression's own scope reads,
%% but a generator expression (or lambda) inside it has a scope of its own
%% and runs later, while the stream is read: the expression is wrapped in
%% a lambda taking the locals as parameters, so that generator closes over
%% them. Locals whose names are not identifiers are passed as they are.
closed_over(Code, Locals) when map_size(Locals) =:= 0 ->
    {Code, Locals};
closed_over(Code, Locals) ->
    Pairs = [{catch name_text(K), V} || {K, V} <- maps:to_list(Locals)],
    case lists:all(fun({N, _}) -> is_binary(N) andalso is_identifier(N) end, Pairs) of
        true ->
            Params = lists:join(<<", ">>, [N || {N, _} <- Pairs]),
            Source = iolist_to_binary([<<"(lambda ">>, Params, <<": (">>, py_call:source(Code),
                                       <<"\n))(**__py_stream_locals)">>]),
            {Source, #{'__py_stream_locals' => maps:from_list(Pairs)}};
        false ->
            {Code, Locals}
    end.

%% @doc Raises `error({invalid_python_identifier, Name})' for a dotted
%% segment of `Module', the function or a kwarg key that is not a Python
%% identifier (only checked when there are kwargs, as the C library does).
-spec check_identifiers(py_call:name(), py_call:name(), map()) -> ok.
check_identifiers(_Module, _Function, Kwargs) when map_size(Kwargs) =:= 0 ->
    ok;
check_identifiers(Module, Function, Kwargs) ->
    Names = binary:split(name_text(Module), <<".">>, [global])
        ++ [name_text(Function) | [name_text(K) || K <- maps:keys(Kwargs)]],
    case [N || N <- Names, not is_identifier(N)] of
        [] -> ok;
        [Bad | _] -> erlang:error({invalid_python_identifier, Bad})
    end.

name_text(Name) when is_atom(Name) -> atom_to_binary(Name);
name_text(Name) when is_binary(Name) -> Name;
name_text(Name) ->
    case catch unicode:characters_to_binary(Name) of
        Bin when is_binary(Bin) -> Bin;
        _ -> erlang:error({invalid_python_identifier, Name})
    end.

is_identifier(Name) ->
    re:run(Name, <<"^[A-Za-z_][A-Za-z0-9_]*\\z">>, [unicode]) =/= nomatch.

%% @doc Collects every value of the iterable `Code' evaluates to.
-spec collect_eval({binary() | string(), map()}, timeout()) -> {ok, list()} | {error, term()}.
collect_eval({Code, Locals}, Idle) ->
    {Source, Bindings} = closed_over(Code, Locals),
    case source(py_call:eval(Source, Bindings), self()) of
        {ok, Ref} -> gather(Ref, Idle, []);
        Error -> Error
    end.

%% @doc Stops a stream. Always `ok' (also for streams that ended).
-spec cancel(reference()) -> ok.
cancel(Ref) when is_reference(Ref) ->
    erlang:send(Ref, {py_stream_cancel, Ref}),
    ok.

%%% ---------------------------------------------------------------------

%% What the call gave: a generator or iterator stays in Python (an object
%% handle) and is driven there; a list (a function returning a list)
%% streams from here; an error ends the stream at once.
source(Result, Owner) ->
    Parent = self(),
    {Relay, Mon} = spawn_monitor(fun() -> relay_init(Parent, Owner, Result) end),
    receive
        {Relay, Ref} ->
            erlang:demonitor(Mon, [flush]),
            {ok, Ref};
        {'DOWN', Mon, process, Relay, Reason} ->
            {error, {stream_failed, Reason}}
    end.

relay_init(Parent, Owner, Result) ->
    Ref = alias(),
    OwnerMon = monitor(process, Owner),
    Parent ! {self(), Ref},
    _ = case Result of
            {ok, Values} when is_list(Values) ->
                _ = [Owner ! {py_stream, Ref, {data, V}} || V <- Values],
                Owner ! {py_stream, Ref, done};
            {ok, Handle} ->
                case py_nif:is_ref(Handle) of
                    true -> drive(Owner, OwnerMon, Ref, Handle);
                    false -> Owner ! {py_stream, Ref, {error, <<"not an iterable">>}}
                end;
            {error, Reason} ->
                Owner ! {py_stream, Ref, {error, Reason}}
        end,
    unalias(Ref).

drive(Owner, OwnerMon, Ref, Handle) ->
    case py_nif:ref_context(Handle) of
        Ctx when is_pid(Ctx) -> drive(Owner, OwnerMon, Ref, Handle, Ctx);
        _ -> Owner ! {py_stream, Ref, {error, {context_died, noproc}}}
    end.

%% The driver runs as a request of this relay's, so its end (and any error
%% that kept it from telling the owner) comes back here.
drive(Owner, OwnerMon, Ref, Handle, Ctx) ->
    {ok, Credit} = py_channel:new(),
    ok = py_channel:send(Credit, ?WINDOW),
    CtxMon = monitor(process, Ctx),
    Tag = make_ref(),
    Args = [Handle, Owner, self(), Ref, Credit],
    case py_call:submit_call(Ctx, Tag, '_erlang_channel', '_stream_run', Args, #{}, undefined,
                                ?FLAG_RESPONSE, infinity) of
        Seq when is_integer(Seq) ->
            relay(#{owner => Owner, owner_mon => OwnerMon, ctx => Ctx, ctx_mon => CtxMon, ref => Ref,
                    credit => Credit, tag => Tag, seq => Seq, waiting => false, stopping => false});
        {error, context_stopped} ->
            Owner ! {py_stream, Ref, {error, {context_died, noproc}}};
        {error, Reason} ->
            Owner ! {py_stream, Ref, {error, Reason}}
    end.

relay(#{ref := Ref, tag := Tag, owner := Owner} = S) ->
    receive
        {py_stream_more, Ref} ->
            relay(lend(S));
        {py_stream_recheck, Ref} ->
            relay(lend(S#{waiting := false}));
        {py_stream_cancel, Ref} ->
            relay(stop(S));
        {py_stream_interrupt, Ref} ->
            _ = py_nif:context_interrupt(map_get(ctx, S), map_get(seq, S)),
            relay(S);
        {'DOWN', Mon, process, _, _} when Mon =:= map_get(owner_mon, S) ->
            relay(stop(S#{owner := none}));
        {py_response, Tag, Result} ->
            ended(S, Result);
        {'DOWN', Mon, process, _, Reason} when Mon =:= map_get(ctx_mon, S) ->
            %% The thread stops the driver, which then ends the stream
            %% itself (its request still answers here); only if it does not
            %% is the end told from here: one end message either way.
            receive
                {py_response, Tag, Result} -> ended(S, Result)
            after ?DRIVER_END_WAIT ->
                tell(Owner, Ref, {error, {context_died, Reason}})
            end
    end.

%% Cancel: the credit channel closes (the driver stops before its next
%% value and closes the generator, so its `finally' runs); a driver still
%% running after a grace period is interrupted (a generator that computes
%% or blocks is stopped too).
stop(#{stopping := true} = S) ->
    S;
stop(#{credit := Credit, ref := Ref} = S) ->
    ok = py_channel:close(Credit),
    erlang:send_after(?CANCEL_GRACE, self(), {py_stream_interrupt, Ref}),
    S#{stopping := true}.

%% The driver's request ended: `true' means it told the owner itself.
ended(_S, {ok, true}) ->
    ok;
ended(#{owner := Owner, ref := Ref, stopping := Stopping}, Result) ->
    Reason = case {Stopping, py_call:finish(Result, false)} of
                 {true, _} -> <<"cancelled">>;
                 {false, {error, R}} -> R;
                 {false, Other} -> {unexpected_result, Other}
             end,
    tell(Owner, Ref, {error, Reason}).

tell(none, _Ref, _End) -> ok;
tell(Owner, Ref, End) -> Owner ! {py_stream, Ref, End}.

lend(#{owner := none} = S) ->
    S;
lend(#{owner := Owner, credit := Credit, ref := Ref, waiting := Waiting} = S) ->
    case erlang:process_info(Owner, message_queue_len) of
        {message_queue_len, N} when N >= ?HIGH_WATER ->
            Waiting orelse erlang:send_after(?RECHECK, self(), {py_stream_recheck, Ref}),
            S#{waiting := true};
        _ when Waiting ->
            S;
        _ ->
            _ = py_channel:send(Credit, ?WINDOW),
            S
    end.

gather(Ref, Idle, Acc) ->
    receive
        {py_stream, Ref, {data, V}} -> gather(Ref, Idle, [V | Acc]);
        {py_stream, Ref, done} -> {ok, lists:reverse(Acc)};
        {py_stream, Ref, {error, Reason}} -> failed(Reason, Acc)
    after Idle ->
        cancel(Ref),
        failed(timeout, Acc)
    end.

failed(Reason, []) -> {error, Reason};
failed(Reason, Acc) -> {error, {partial, lists:reverse(Acc), Reason}}.
