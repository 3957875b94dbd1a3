%% @doc The search index: the corpus sentences and their embeddings.
%%
%% At start it reads the corpus (one sentence a line; blank lines and lines
%% starting with `#' are skipped), embeds it through the pool in batches of
%% 32, and publishes `{Sentences, Vectors}' with persistent_term, so that
%% nearest/2 runs in the caller's process, without copying the index and
%% without a server in the way: many processes search at once.
-module(embeddings_index).
-behaviour(gen_server).

-export([start_link/0, nearest/2, sentences/0, read_corpus/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(KEY, {?MODULE, index}).
-define(BATCH, 32).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], [{timeout, 600000}]).

%% @doc The `K' indexed sentences with the highest cosine similarity to
%% `Vector', best first.
-spec nearest(embeddings:vector(), non_neg_integer()) -> [{float(), binary()}].
nearest(Vector, K) ->
    {Sentences, Vectors} = persistent_term:get(?KEY),
    Scored = lists:zipwith(fun(S, V) -> {embeddings:similarity(Vector, V), S} end,
                           Sentences, Vectors),
    lists:sublist(lists:reverse(lists:sort(Scored)), K).

-spec sentences() -> [binary()].
sentences() ->
    {Sentences, _} = persistent_term:get(?KEY, {[], []}),
    Sentences.

%% @doc The sentences of a corpus file.
-spec read_corpus(file:filename()) -> {ok, [binary()]} | {error, term()}.
read_corpus(File) ->
    case file:read_file(File) of
        {ok, Bin} ->
            Lines = [string:trim(L) || L <- binary:split(Bin, [<<"\n">>, <<"\r\n">>], [global])],
            {ok, [L || L <- Lines, L =/= <<>>, binary:first(L) =/= $#]};
        {error, Reason} ->
            {error, {File, Reason}}
    end.

-spec init([]) -> {ok, #{size := non_neg_integer()}} | {stop, term()}.
init([]) ->
    File = embeddings:corpus_file(),
    case read_corpus(File) of
        {ok, Sentences} ->
            case embed_all(Sentences, []) of
                {ok, Vectors} ->
                    persistent_term:put(?KEY, {Sentences, Vectors}),
                    {ok, #{size => length(Sentences)}};
                {error, Reason} ->
                    {stop, {corpus_not_embedded, Reason}}
            end;
        {error, Reason} ->
            {stop, Reason}
    end.

embed_all([], Acc) ->
    {ok, lists:append(lists:reverse(Acc))};
embed_all(Sentences, Acc) ->
    {Batch, Rest} = lists:split(min(?BATCH, length(Sentences)), Sentences),
    case embeddings:embed(Batch) of
        {ok, Vectors} -> embed_all(Rest, [Vectors | Acc]);
        {error, _} = Error -> Error
    end.

-spec handle_call(term(), gen_server:from(), map()) -> {reply, term(), map()}.
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), map()) -> {noreply, map()}.
handle_cast(_Msg, State) ->
    {noreply, State}.

-spec handle_info(term(), map()) -> {noreply, map()}.
handle_info(_Msg, State) ->
    {noreply, State}.

-spec terminate(term(), map()) -> ok.
terminate(_Reason, _State) ->
    _ = persistent_term:erase(?KEY),
    ok.
