%% @doc Receives Python `logging' records (sent by `erlang.ErlangHandler')
%% and hands them to the Erlang `logger' with domain `[python]'.
%%
%% Each record arrives as `{py_log, Level, LoggerName, Message, Meta,
%% TimeMicros}'. Records below the configured level are dropped in Python,
%% before any term is built.
-module(py_logger).
-behaviour(gen_server).

-export([start_link/0, start_link/1, set_level/1, level_number/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type level() :: debug | info | warning | error | critical.

%% @doc Starts the logger sink at the `log_level' application setting
%% (default `debug').
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    start_link(#{level => application:get_env(erlang_python, log_level, debug)}).

-spec start_link(#{level => level()}) -> {ok, pid()} | {error, term()}.
start_link(Opts) ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, Opts, []).

%% @doc The lowest level forwarded (an atom or a Python level number).
-spec set_level(level() | non_neg_integer()) -> ok.
set_level(Level) ->
    gen_server:call(?MODULE, {set_level, level_number(Level)}).

%% @doc The Python number of a level: debug 10, info 20, warning 30, error
%% 40, critical 50.
-spec level_number(level() | integer()) -> integer().
level_number(N) when is_integer(N) -> N;
level_number(debug) -> 10;
level_number(info) -> 20;
level_number(notice) -> 20;
level_number(warning) -> 30;
level_number(error) -> 40;
level_number(critical) -> 50;
level_number(alert) -> 50;
level_number(emergency) -> 50.

init(Opts) ->
    process_flag(trap_exit, true),
    ok = py_nif:logging_set_level(level_number(maps:get(level, Opts, debug))),
    {ok, #{}}.

handle_call({set_level, N}, _From, State) ->
    ok = py_nif:logging_set_level(N),
    {reply, ok, State};
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_request}, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info({py_log, Level, Name, Message, Meta, Time}, State) ->
    logger:log(Level, "~ts", [Message],
               #{domain => [python], py_logger => Name, py_meta => Meta, time => Time}),
    {noreply, State};
handle_info(_Info, State) ->
    {noreply, State}.

terminate(_Reason, _State) ->
    %% Nobody listens any more: stop Python from building records.
    py_nif:logging_set_level(1 bsl 62).
