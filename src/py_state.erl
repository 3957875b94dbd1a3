%% @doc Node-wide shared state for Erlang and Python: a public ETS table
%% with atomic counters, reachable from Python as `erlang.state_get/set/
%% delete/keys/clear/incr/decr' and from Erlang as `py:state_*'.
%%
%% `max_state_entries' (application environment, default `infinity') caps
%% the number of keys: storing a new key beyond it returns `{error, full}'
%% (concurrent inserts of new keys may overshoot the cap by the number of
%% writers racing). The key `'$py_state_size$'' is reserved, as in the C
%% library.
-module(py_state).
-behaviour(gen_server).

-export([start_link/0, init_tab/0, fetch/1, store/2, remove/1, keys/0, clear/0,
         incr/1, incr/2, decr/1, decr/2, callbacks/0, register_callbacks/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(TABLE, py_state).
-define(SIZE_KEY, '$py_state_size$').

%%% ---------------------------------------------------------------------
%%% API
%%% ---------------------------------------------------------------------

%% @doc Starts the owner of the table.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Creates the table in the calling process if it does not exist
%% (the application does this through `start_link/0').
-spec init_tab() -> ok.
init_tab() ->
    case ets:info(?TABLE, name) of
        undefined ->
            _ = ets:new(?TABLE, [named_table, public, set,
                                 {read_concurrency, true}, {write_concurrency, true}]),
            ok;
        _ ->
            ok
    end.

-spec fetch(term()) -> {ok, term()} | {error, not_found}.
fetch(?SIZE_KEY) ->
    {error, not_found};
fetch(Key) ->
    case ets:lookup(?TABLE, Key) of
        [{_, Value}] -> {ok, Value};
        [] -> {error, not_found}
    end.

-spec store(term(), term()) -> ok | {error, full | reserved_key}.
store(?SIZE_KEY, _Value) ->
    {error, reserved_key};
store(Key, Value) ->
    case ets:insert_new(?TABLE, {Key, Value}) of
        true -> admit({Key, Value});
        false -> ets:insert(?TABLE, {Key, Value}), ok
    end.

-spec remove(term()) -> ok.
remove(?SIZE_KEY) ->
    ok;
remove(Key) ->
    ets:delete(?TABLE, Key),
    ok.

-spec keys() -> [term()].
keys() ->
    ets:select(?TABLE, [{{'$1', '_'}, [], ['$1']}]).

-spec clear() -> ok.
clear() ->
    ets:delete_all_objects(?TABLE),
    ok.

%% @doc Adds 1 to the counter `Key' (created at 0) and returns the new value.
-spec incr(term()) -> integer().
incr(Key) ->
    incr(Key, 1).

-spec incr(term(), integer()) -> integer().
incr(?SIZE_KEY, _N) ->
    erlang:error(reserved_key);
incr(Key, N) when is_integer(N) ->
    case ets:insert_new(?TABLE, {Key, 0}) of
        true ->
            case admit({Key, 0}) of
                ok -> ok;
                {error, full} -> erlang:error(full)
            end;
        false ->
            ok
    end,
    ets:update_counter(?TABLE, Key, N).

-spec decr(term()) -> integer().
decr(Key) ->
    incr(Key, -1).

-spec decr(term(), integer()) -> integer().
decr(Key, N) when is_integer(N) ->
    incr(Key, -N).

%% @doc The Python-visible callbacks (`erlang.state_get' and friends).
-spec callbacks() -> [{atom(), fun((list()) -> term())}].
callbacks() ->
    [{state_get, fun([K]) -> case fetch(K) of {ok, V} -> V; {error, not_found} -> none end end},
     {state_set, fun([K, V]) -> checked(store(K, V)) end},
     {state_delete, fun([K]) -> remove(K), none end},
     {state_keys, fun([]) -> keys() end},
     {state_clear, fun([]) -> clear(), none end},
     {state_incr, fun([K]) -> incr(K); ([K, N]) -> incr(K, N) end},
     {state_decr, fun([K]) -> decr(K); ([K, N]) -> decr(K, N) end}].

%% @doc Registers the callbacks again (for callers that cleared them).
-spec register_callbacks() -> ok.
register_callbacks() ->
    lists:foreach(fun({Name, Fun}) -> py_callback:register(Name, Fun) end, callbacks()).

%%% ---------------------------------------------------------------------
%%% Server (owns the table)
%%% ---------------------------------------------------------------------

init([]) ->
    ok = init_tab(),
    {ok, #{}}.

handle_call(_Request, _From, State) ->
    {reply, {error, unknown_request}, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info(_Info, State) ->
    {noreply, State}.

%%% ---------------------------------------------------------------------
%%% Internals
%%% ---------------------------------------------------------------------

%% Checks a just-inserted entry against the cap, taking it out again past
%% it (unless another writer has replaced it meanwhile).
admit(Entry) ->
    case application:get_env(erlang_python, max_state_entries, infinity) of
        Max when is_integer(Max) ->
            case ets:info(?TABLE, size) > Max of
                true -> ets:delete_object(?TABLE, Entry), {error, full};
                false -> ok
            end;
        _ ->
            ok
    end.

checked(ok) -> none;
checked({error, Reason}) -> erlang:error(Reason).
