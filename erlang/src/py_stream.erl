%% @doc Streaming the values of a Python generator (sync or async) to an
%% Erlang process, with backpressure and cancellation.
%%
%% The generator is made by an ordinary call in the caller's process (so
%% `'__main__'' functions from the caller's `py:exec' resolve, and kwargs
%% travel as values: no Python source is built). Its values are then sent
%% by the context thread straight to the owner as `{py_stream, Ref,
%% {data, V}}', then `{py_stream, Ref, done}' or `{py_stream, Ref, {error,
%% Reason}}'. A relay process lends the generator credit, `?WINDOW' values
%% at a time, only while the owner's mailbox holds fewer than `?HIGH_WATER'
%% messages: a fast generator cannot flood a slow owner. `Ref' is an alias
%% of the relay: `cancel/1' closes the generator (its `finally' runs) and
%% the stream ends with `{error, <<"cancelled">>}'; so does the owner's
%% death.
-module(py_stream).

-export([start/5, start/6, cancel/1, collect/2, collect_eval/2]).

%% Values lent to the generator at a time.
-define(WINDOW, 256).
%% Owner mailbox length above which no more credit is lent.
-define(HIGH_WATER, 1024).
%% How often a relay whose owner lags looks at its mailbox again (ms).
-define(RECHECK, 2).
%% Longest wait for the next event when collecting (ms).
-define(IDLE_TIMEOUT, 30000).

%% @doc Starts streaming `Module.Function(*Args, **Kwargs)' to `Owner'.
-spec start(py:name(), py:name(), list(), map(), pid()) -> {ok, reference()}.
start(Module, Function, Args, Kwargs, Owner) ->
    source(py:call(Module, Function, Args, Kwargs), Owner).

%% @doc start/5 with the generator made (and run) in context `Ctx'.
-spec start(pid(), py:name(), py:name(), list(), map(), pid()) -> {ok, reference()}.
start(Ctx, Module, Function, Args, Kwargs, Owner) ->
    source(py_context:call(Ctx, Module, Function, Args, Kwargs), Owner).

%% @doc Collects every value of the stream of `Module.Function(*Args,
%% **Kwargs)'.
-spec collect({py:name(), py:name(), list(), map()}, timeout()) -> {ok, list()} | {error, term()}.
collect({Module, Function, Args, Kwargs}, Idle) ->
    {ok, Ref} = start(Module, Function, Args, Kwargs, self()),
    gather(Ref, Idle, []).

%% @doc Collects every value of the iterable `Code' evaluates to.
-spec collect_eval({binary() | string(), map()}, timeout()) -> {ok, list()} | {error, term()}.
collect_eval({Code, Locals}, Idle) ->
    {ok, Ref} = source(py:eval(Code, Locals), self()),
    gather(Ref, Idle, []).

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
    Relay = spawn(fun() -> relay_init(Parent, Owner, Result) end),
    receive {Relay, Ref} -> {ok, Ref} end.

relay_init(Parent, Owner, Result) ->
    Ref = alias(),
    OwnerMon = monitor(process, Owner),
    Parent ! {self(), Ref},
    case Result of
        {ok, Values} when is_list(Values) ->
            [Owner ! {py_stream, Ref, {data, V}} || V <- Values],
            Owner ! {py_stream, Ref, done};
        {ok, Handle} ->
            case py:is_ref(Handle) of
                true -> drive(Owner, OwnerMon, Ref, Handle);
                false -> Owner ! {py_stream, Ref, {error, <<"not an iterable">>}}
            end;
        {error, Reason} ->
            Owner ! {py_stream, Ref, {error, reason_text(Reason)}}
    end,
    unalias(Ref).

drive(Owner, OwnerMon, Ref, Handle) ->
    case py_nif:ref_context(Handle) of
        Ctx when is_pid(Ctx) -> drive(Owner, OwnerMon, Ref, Handle, Ctx);
        _ -> Owner ! {py_stream, Ref, {error, <<"the generator's context is gone">>}}
    end.

drive(Owner, OwnerMon, Ref, Handle, Ctx) ->
    {ok, Credit} = py_channel:new(),
    ok = py_channel:send(Credit, ?WINDOW),
    CtxMon = monitor(process, Ctx),
    ok = py:cast(Ctx, '_erlang_channel', '_stream_run', [Handle, Owner, self(), Ref, Credit]),
    relay(#{owner => Owner, owner_mon => OwnerMon, ctx_mon => CtxMon, ref => Ref, credit => Credit,
            waiting => false}).

relay(#{ref := Ref, credit := Credit, owner := Owner} = S) ->
    receive
        {py_stream_more, Ref} ->
            relay(lend(S));
        {py_stream_recheck, Ref} ->
            relay(lend(S#{waiting := false}));
        {py_stream_end, Ref} ->
            ok;
        {py_stream_cancel, Ref} ->
            ok = py_channel:close(Credit),
            finish(S);
        {'DOWN', Mon, process, _, _} when Mon =:= map_get(owner_mon, S) ->
            ok = py_channel:close(Credit),
            finish(S);
        {'DOWN', Mon, process, _, Reason} when Mon =:= map_get(ctx_mon, S) ->
            Owner ! {py_stream, Ref, {error, reason_text({context_died, Reason})}}
    end.

%% After a cancel: wait for the generator to wind down (it reports the
%% end itself), or for its context to die.
finish(#{ref := Ref, ctx_mon := CtxMon}) ->
    receive
        {py_stream_end, Ref} -> ok;
        {'DOWN', CtxMon, process, _, _} -> ok
    end.

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
        {py_stream, Ref, {error, Reason}} -> {error, Reason}
    after Idle ->
        cancel(Ref),
        {error, timeout}
    end.

reason_text(Reason) when is_binary(Reason) -> Reason;
reason_text({Class, Message}) when is_atom(Class), is_list(Message) -> unicode:characters_to_binary(Message);
reason_text(Reason) -> iolist_to_binary(io_lib:format("~0tp", [Reason])).
