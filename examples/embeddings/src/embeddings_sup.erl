%% @doc The application's supervisor.
%%
%% embeddings_pool sets up Python (the virtual environment, this
%% application's priv/ on sys.path) and owns the `embeddings' pool of
%% erlang_python contexts with the model loaded; embeddings_index embeds
%% the corpus through it. rest_for_one: if the pool owner restarts, the
%% index is rebuilt after it. (A context that dies inside the pool is
%% replaced by erlang_python's router on its own; that needs no restart
%% here.)
-module(embeddings_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Flags = #{strategy => rest_for_one, intensity => 3, period => 60},
    Children = [#{id => embeddings_pool,
                  start => {embeddings_pool, start_link, []},
                  shutdown => 10000},
                #{id => embeddings_index,
                  start => {embeddings_index, start_link, []},
                  shutdown => 5000}],
    {ok, {Flags, Children}}.
