%% @doc Sentence embeddings (all-MiniLM-L6-v2, 384 dimensions, unit length)
%% computed by Python inside this VM through erlang_python, and a small
%% semantic search over the corpus the application ships.
%%
%% ```
%% {ok, _} = application:ensure_all_started(embeddings),
%% {ok, [V1, V2]} = embeddings:embed([<<"A cat sleeps.">>, <<"Dogs bark.">>]),
%% 384 = length(V1),
%% [{Score, Sentence} | _] = embeddings:search(<<"weather tomorrow">>, 3).
%% '''
%%
%% Any number of Erlang processes may call embed/1 and search/2 at once:
%% each call goes straight to one context of the `embeddings' pool (see
%% embeddings_pool), and the contexts run the model in parallel.
-module(embeddings).

-export([embed/1, search/2, similarity/2, corpus/0, info/0]).
-export([venv_dir/0, priv_dir/0, corpus_file/0]).

-type vector() :: [float()].
-export_type([vector/0]).

%% @doc The embeddings of `Sentences' (UTF-8 binaries), in order: lists of
%% 384 floats of unit length, so a dot product is their cosine similarity.
%% Errors from Python come back as `{error, {Class, Message}}'; a call that
%% takes longer than the `timeout' setting is interrupted and returns
%% `{error, timeout}'.
-spec embed([binary()]) -> {ok, [vector()]} | {error, term()}.
embed([]) ->
    {ok, []};
embed(Sentences) when is_list(Sentences) ->
    Timeout = application:get_env(embeddings, timeout, 30000),
    py:call(embeddings_model, encode, [Sentences], #{}, Timeout).

%% @doc The `K' corpus sentences closest in meaning to `Query', best first,
%% with their cosine similarity. Raises `{embed_failed, Reason}' if the
%% query cannot be embedded.
-spec search(binary() | string(), non_neg_integer()) -> [{float(), binary()}].
search(Query, K) when is_integer(K), K >= 0 ->
    case embed([unicode:characters_to_binary(Query)]) of
        {ok, [Vector]} -> embeddings_index:nearest(Vector, K);
        {error, Reason} -> erlang:error({embed_failed, Reason})
    end.

%% @doc Cosine similarity of two embeddings (they have unit length).
-spec similarity(vector(), vector()) -> float().
similarity(A, B) ->
    dot(A, B, 0.0).

dot([X | Xs], [Y | Ys], Acc) -> dot(Xs, Ys, Acc + X * Y);
dot([], [], Acc) -> Acc.

%% @doc The corpus sentences, as search/2 sees them.
-spec corpus() -> [binary()].
corpus() ->
    embeddings_index:sentences().

%% @doc What runs: model package, library versions, dimensions, pool size,
%% torch threads, the virtual environment.
-spec info() -> map().
info() ->
    (embeddings_pool:info())#{corpus_size => length(corpus())}.

%%% ---------------------------------------------------------------------
%%% Where things are
%%% ---------------------------------------------------------------------

%% @doc The virtual environment: the `venv' setting, else $EMBEDDINGS_VENV,
%% else `_venv' beside priv/ (examples/embeddings/_venv, made by run.sh).
-spec venv_dir() -> file:filename().
venv_dir() ->
    case application:get_env(embeddings, venv, default) of
        default ->
            case os:getenv("EMBEDDINGS_VENV") of
                false -> filename:join(app_dir(), "_venv");
                "" -> filename:join(app_dir(), "_venv");
                Dir -> filename:absname(Dir)
            end;
        Dir ->
            filename:absname(Dir)
    end.

%% @doc This application's priv/ (embeddings_model.py, corpus.txt).
-spec priv_dir() -> file:filename().
priv_dir() ->
    case code:priv_dir(embeddings) of
        {error, bad_name} -> filename:join(app_dir(), "priv");
        Dir -> resolve(Dir)
    end.

%% @doc The corpus: the `corpus' setting, else priv/corpus.txt.
-spec corpus_file() -> file:filename().
corpus_file() ->
    case application:get_env(embeddings, corpus, default) of
        default -> filename:join(priv_dir(), "corpus.txt");
        File -> filename:absname(File)
    end.

%% The example's directory: rebar3 links _build/default/lib/embeddings/priv
%% to the project's priv/, whose parent is the project.
app_dir() ->
    case code:priv_dir(embeddings) of
        {error, bad_name} -> filename:dirname(filename:dirname(code:which(?MODULE)));
        Dir -> filename:dirname(resolve(Dir))
    end.

%% `Path' with a symbolic link in last place followed (rebar3's priv link).
resolve(Path0) ->
    Path = filename:absname(Path0),
    case file:read_link(Path) of
        {ok, Target} -> normalize(filename:absname(Target, filename:dirname(Path)));
        {error, _} -> Path
    end.

%% `/a/b/../c' -> `/a/c' (no other links on these paths).
normalize(Path) ->
    filename:join(lists:reverse(lists:foldl(fun("..", [Root]) -> [Root];
                                               ("..", [_ | Acc]) -> Acc;
                                               (".", Acc) -> Acc;
                                               (Part, Acc) -> [Part | Acc]
                                            end, [], filename:split(Path)))).
