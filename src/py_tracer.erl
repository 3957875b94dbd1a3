%% @doc Collects tracing spans reported by Python (`erlang.Span',
%% `@erlang.trace') while tracing is enabled.
%%
%% Python reports `{span_start, Id, ParentId, Name, Attrs, T}',
%% `{span_event, Id, Name, Attrs, T}' and `{span_end, Id, Status, Attrs, T}'
%% (T in microseconds, monotonic). Completed spans are kept oldest first, up
%% to `max_traces' (application setting, default 10 000; the oldest are
%% dropped beyond it).
-module(py_tracer).
-behaviour(gen_server).

-export([start_link/0, enable/0, disable/0, get_spans/0, clear/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

-spec enable() -> ok.
enable() -> gen_server:call(?MODULE, {enable, true}).

-spec disable() -> ok.
disable() -> gen_server:call(?MODULE, {enable, false}).

%% @doc Completed spans, oldest first.
-spec get_spans() -> {ok, [map()]}.
get_spans() -> gen_server:call(?MODULE, get_spans).

-spec clear() -> ok.
clear() -> gen_server:call(?MODULE, clear).

init([]) ->
    process_flag(trap_exit, true),
    ok = py_nif:tracing_set(false),
    {ok, #{open => #{}, done => queue:new(), count => 0,
           max => application:get_env(erlang_python, max_traces, 10000)}}.

handle_call({enable, On}, _From, State) ->
    ok = py_nif:tracing_set(On),
    {reply, ok, State};
handle_call(get_spans, _From, #{done := Done} = State) ->
    {reply, {ok, queue:to_list(Done)}, State};
handle_call(clear, _From, State) ->
    {reply, ok, State#{open := #{}, done := queue:new(), count := 0}};
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_request}, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info({span_start, Id, Parent, Name, Attrs, T}, #{open := Open} = State) ->
    Span = #{name => Name, span_id => Id, parent_id => parent(Parent),
             attributes => Attrs, start_time => T, events => []},
    {noreply, State#{open := Open#{Id => Span}}};
handle_info({span_event, Id, Name, Attrs, T}, #{open := Open} = State) ->
    case Open of
        #{Id := #{events := Events} = Span} ->
            Event = #{name => Name, attrs => Attrs, time => T},
            {noreply, State#{open := Open#{Id := Span#{events := [Event | Events]}}}};
        _ ->
            {noreply, State}
    end;
handle_info({span_end, Id, Status, Attrs, T}, #{open := Open} = State) ->
    case maps:take(Id, Open) of
        {#{start_time := Start} = Span, Rest} ->
            Done = Span#{end_time => T, duration_us => T - Start,
                         status => status(Status), end_attrs => Attrs},
            {noreply, keep(Done, State#{open := Rest})};
        error ->
            {noreply, State}
    end;
handle_info(_Info, State) ->
    {noreply, State}.

terminate(_Reason, _State) ->
    py_nif:tracing_set(false).

keep(Span, #{done := Done, count := N, max := Max} = State) when N >= Max ->
    {_, Rest} = queue:out(Done),
    State#{done := queue:in(Span, Rest)};
keep(Span, #{done := Done, count := N} = State) ->
    State#{done := queue:in(Span, Done), count := N + 1}.

parent(none) -> undefined;
parent(undefined) -> undefined;
parent(Id) -> Id.

status(<<"ok">>) -> ok;
status(<<"error">>) -> error;
status(ok) -> ok;
status(error) -> error;
status(Other) -> Other.
