%% @doc Three ways to serve the same model, measured on the same batches:
%%
%%   1. library: this application, erlang_python's pool inside the VM,
%%      called from N Erlang processes at once (embeddings:embed/1);
%%   2. python: the model in a plain Python process, no Erlang in the way
%%      (priv/embeddings_bench.py), called from N Python threads;
%%   3. http: the model behind a stdlib http.server service
%%      (priv/embeddings_http.py), called from N Erlang processes with
%%      httpc, JSON both ways (encoding and decoding counted);
%% for each N in `callers' (default 1 and 8) and each batch size.
%%
%% Each run lasts `seconds' after `warmup' seconds of the same load; every
%% caller takes the next batch of the corpus (cycling) and times each call.
%% Sentences/s is all sentences over the wall time; p50 and p99 are
%% nearest-rank percentiles of the per-call latencies. All three load the
%% model with the same torch thread setting.
%%
%% main/0 reads BENCH_SECONDS, BENCH_WARMUP, BENCH_CALLERS and BENCH_BATCHES
%% (comma separated) and BENCH_MODES (library,python,http) from the
%% environment, runs, prints the table and halts.
-module(embeddings_bench).

-export([main/0, run/1]).

-define(PROFILE, embeddings_bench).
-define(READY_TIMEOUT, 300000).

-spec main() -> no_return().
main() ->
    Opts = #{seconds => env_number("BENCH_SECONDS", 8),
             warmup => env_number("BENCH_WARMUP", 1),
             callers => env_list("BENCH_CALLERS", [1, 8]),
             batches => env_list("BENCH_BATCHES", [1, 32]),
             modes => [list_to_atom(M) || M <- string:lexemes(os:getenv("BENCH_MODES", "library,python,http"), ",")]},
    try run(Opts) of
        _ -> halt(0)
    catch
        Class:Reason:Stack ->
            io:format("~nBENCHMARK FAILED: ~p:~p~n  ~p~n", [Class, Reason, Stack]),
            halt(1)
    end.

%% @doc Runs the benchmark and prints the table; returns the rows.
-spec run(map()) -> [map()].
run(Opts0) ->
    Opts = maps:merge(#{seconds => 8, warmup => 1, callers => [1, 8], batches => [1, 32],
                        modes => [library, python, http]}, Opts0),
    {ok, _} = application:ensure_all_started(embeddings),
    {ok, Corpus} = embeddings_index:read_corpus(embeddings:corpus_file()),
    Info = embeddings:info(),
    #{callers := Callers, seconds := Seconds, batches := Batches} = Opts,
    io:format("~nBenchmark: ~ts, ~w callers at once, ~p s a run after ~p s of warm-up,~n"
              "batches of ~w sentences from the ~p-sentence corpus; torch threads: ~p per process;~n"
              "~p cores, load average ~ts at the start~n",
              [maps:get(package, Info), Callers, Seconds, maps:get(warmup, Opts), Batches,
               length(Corpus), maps:get(torch_threads, Info), erlang:system_info(logical_processors),
               loadavg()]),
    CorpusT = list_to_tuple(Corpus),
    Rows = lists:append([mode(M, CorpusT, Opts, Info) || M <- maps:get(modes, Opts)]),
    print_table(Rows, Info),
    io:format("load average at the end: ~ts~n", [loadavg()]),
    Rows.

mode(library, Corpus, #{callers := CallersList} = Opts, Info) ->
    progress("library: erlang_python pool in this VM, ~w Erlang processes", [CallersList]),
    [row(io_lib:format("erlang_python pool (~p contexts)", [maps:get(contexts, Info)]), Batch, Callers,
         drive(fun embeddings:embed/1, Corpus, Batch, Callers, Opts))
     || Batch <- maps:get(batches, Opts), Callers <- CallersList];
mode(python, _Corpus, #{callers := CallersList} = Opts, Info) ->
    progress("python: plain Python process, ~w threads", [CallersList]),
    Args = ["--corpus", embeddings:corpus_file(),
            "--batches", join(maps:get(batches, Opts)),
            "--threads", join(CallersList),
            "--seconds", num(maps:get(seconds, Opts)),
            "--warmup", num(maps:get(warmup, Opts)),
            "--torch-threads", integer_to_list(maps:get(torch_threads, Info))],
    Port = python_port("embeddings_bench.py", Args),
    Results = python_results(Port, []),
    [row("plain Python process", Batch, T, R) || {Batch, T, R} <- Results];
mode(http, Corpus, #{callers := CallersList} = Opts, Info) ->
    progress("http: Python http.server service, ~w Erlang processes with httpc", [CallersList]),
    Port = python_port("embeddings_http.py", ["--torch-threads", integer_to_list(maps:get(torch_threads, Info))]),
    HttpPort = wait_ready(Port),
    {ok, _} = application:ensure_all_started(inets),
    {ok, _} = inets:start(httpc, [{profile, ?PROFILE}]),
    %% One keep-alive connection per caller: httpc queues a request on a
    %% busy connection while its queue is shorter than max_keep_alive_length,
    %% so 1 makes it open another instead. nodelay: no Nagle delays.
    ok = httpc:set_options([{max_sessions, lists:max(CallersList)}, {max_keep_alive_length, 1},
                            {keep_alive_timeout, 120000}, {socket_opts, [{nodelay, true}]}], ?PROFILE),
    Url = "http://127.0.0.1:" ++ integer_to_list(HttpPort) ++ "/embed",
    try
        [row("Python http.server + httpc", Batch, Callers, drive(http_embed(Url), Corpus, Batch, Callers, Opts))
         || Batch <- maps:get(batches, Opts), Callers <- CallersList]
    after
        inets:stop(httpc, ?PROFILE),
        catch port_close(Port)
    end.

row(How, Batch, Callers, #{requests := Requests, sentences := Sentences, wall_us := Wall,
                           p50_us := P50, p99_us := P99, errors := Errors}) ->
    #{how => lists:flatten(How), batch => Batch, callers => Callers, requests => Requests,
      sentences_per_s => Sentences / (Wall / 1.0e6), p50_ms => P50 / 1000, p99_ms => P99 / 1000,
      errors => Errors}.

%%% ---------------------------------------------------------------------
%%% The load: `callers' processes, each timing its calls until the deadline
%%% ---------------------------------------------------------------------

drive(Embed, Corpus, Batch, Callers, #{seconds := Seconds, warmup := Warmup}) ->
    _ = load(Embed, Corpus, Batch, Callers, Warmup),
    load(Embed, Corpus, Batch, Callers, Seconds).

load(Embed, Corpus, Batch, Callers, Seconds) ->
    Counter = atomics:new(1, []),
    Parent = self(),
    Start = erlang:monotonic_time(microsecond),
    Deadline = Start + round(Seconds * 1.0e6),
    Pids = [spawn_link(fun() ->
                               Parent ! {self(), client(Embed, Corpus, Batch, Counter, Deadline, [], 0)}
                       end) || _ <- lists:seq(1, Callers)],
    Results = [receive {Pid, R} -> R end || Pid <- Pids],
    Wall = erlang:monotonic_time(microsecond) - Start,
    Latencies = lists:sort(lists:append([L || {L, _} <- Results])),
    #{requests => length(Latencies), sentences => length(Latencies) * Batch, wall_us => Wall,
      p50_us => percentile(Latencies, 0.50), p99_us => percentile(Latencies, 0.99),
      errors => lists:sum([E || {_, E} <- Results])}.

client(Embed, Corpus, Batch, Counter, Deadline, Acc, Errors) ->
    case erlang:monotonic_time(microsecond) < Deadline of
        false ->
            {Acc, Errors};
        true ->
            Sentences = batch_at(Corpus, atomics:add_get(Counter, 1, 1) - 1, Batch),
            T0 = erlang:monotonic_time(microsecond),
            case Embed(Sentences) of
                {ok, Vectors} when length(Vectors) =:= Batch ->
                    Us = erlang:monotonic_time(microsecond) - T0,
                    client(Embed, Corpus, Batch, Counter, Deadline, [Us | Acc], Errors);
                Other ->
                    Errors =:= 0 andalso io:format("  first error: ~P~n", [Other, 20]),
                    client(Embed, Corpus, Batch, Counter, Deadline, Acc, Errors + 1)
            end
    end.

%% The same batches as priv/embeddings_bench.py's batch_at.
batch_at(Corpus, Index, Size) ->
    N = tuple_size(Corpus),
    Start = (Index * Size) rem N,
    [element((Start + I) rem N + 1, Corpus) || I <- lists:seq(0, Size - 1)].

%% Nearest rank, as in priv/embeddings_bench.py.
percentile([], _P) ->
    0;
percentile(Sorted, P) ->
    Rank = max(1, ceil(P * length(Sorted))),
    lists:nth(Rank, Sorted).

http_embed(Url) ->
    fun(Sentences) ->
            Body = iolist_to_binary(embeddings_json:encode(#{sentences => Sentences})),
            case httpc:request(post, {Url, [], "application/json", Body}, [{timeout, 60000}],
                               [{body_format, binary}], ?PROFILE) of
                {ok, {{_, 200, _}, _Headers, Json}} ->
                    {ok, maps:get(<<"embeddings">>, embeddings_json:decode(Json))};
                {ok, {{_, Code, _}, _Headers, Json}} ->
                    {error, {http, Code, Json}};
                {error, _} = Error ->
                    Error
            end
    end.

%%% ---------------------------------------------------------------------
%%% The Python processes
%%% ---------------------------------------------------------------------

python_port(Script, Args) ->
    Python = filename:join([embeddings:venv_dir(), "bin", "python"]),
    open_port({spawn_executable, Python},
              [{args, [filename:join(embeddings:priv_dir(), Script) | Args]},
               {line, 65536}, binary, exit_status, stderr_to_stdout, use_stdio, hide]).

%% Lines of embeddings_bench.py: result terms, comments and anything else
%% (warnings) shown as they come.
python_results(Port, Acc) ->
    receive
        {Port, {data, {eol, <<"{python", _/binary>> = Line}}} ->
            {ok, Tokens, _} = erl_scan:string(binary_to_list(Line)),
            {ok, {python, Batch, Threads, Requests, Sentences, Wall, P50, P99}} = erl_parse:parse_term(Tokens),
            R = #{requests => Requests, sentences => Sentences, wall_us => Wall,
                  p50_us => P50, p99_us => P99, errors => 0},
            python_results(Port, [{Batch, Threads, R} | Acc]);
        {Port, {data, {eol, <<"%", Comment/binary>>}}} ->
            io:format("  python:~ts~n", [Comment]),
            python_results(Port, Acc);
        {Port, {data, {eol, Line}}} ->
            io:format("  python: ~ts~n", [Line]),
            python_results(Port, Acc);
        {Port, {data, {noeol, _}}} ->
            python_results(Port, Acc);
        {Port, {exit_status, 0}} ->
            lists:reverse(Acc);
        {Port, {exit_status, Status}} ->
            erlang:error({python_benchmark_failed, Status})
    end.

wait_ready(Port) ->
    receive
        {Port, {data, {eol, <<"ready ", P/binary>>}}} ->
            binary_to_integer(P);
        {Port, {data, {eol, Line}}} ->
            io:format("  http service: ~ts~n", [Line]),
            wait_ready(Port);
        {Port, {data, {noeol, _}}} ->
            wait_ready(Port);
        {Port, {exit_status, Status}} ->
            erlang:error({http_service_exited, Status})
    after ?READY_TIMEOUT ->
            erlang:error(http_service_not_ready)
    end.

%%% ---------------------------------------------------------------------
%%% Output
%%% ---------------------------------------------------------------------

print_table(Rows, Info) ->
    io:format("~nSentence embeddings, ~ts on CPU (~p torch thread~s per process)~n~n",
              [maps:get(package, Info), maps:get(torch_threads, Info), plural(maps:get(torch_threads, Info))]),
    Header = io_lib:format("~-36s ~5s ~7s ~8s ~11s ~9s ~9s", ["how", "batch", "callers", "requests",
                                                                "sentences/s", "p50 ms", "p99 ms"]),
    io:format("~ts~n~ts~n", [Header, lists:duplicate(length(lists:flatten(Header)), $-)]),
    Key = fun(#{batch := B, callers := C}) -> {B, C} end,
    Sorted = lists:sort(fun(A, B) -> Key(A) =< Key(B) end, Rows),
    _ = lists:foldl(fun(#{how := How, batch := Batch, callers := Callers, requests := Requests,
                      sentences_per_s := Sps, p50_ms := P50, p99_ms := P99, errors := Errors} = Row, Prev) ->
                        case Prev =/= undefined andalso Prev =/= Key(Row) of
                            true -> io:format("~n");
                            false -> ok
                        end,
                        io:format("~-36s ~5b ~7b ~8b ~11.1f ~9.1f ~9.1f~ts~n",
                                  [How, Batch, Callers, Requests, Sps, P50, P99,
                                   case Errors of 0 -> ""; _ -> io_lib:format("  (~p errors)", [Errors]) end]),
                        Key(Row)
                end, undefined, Sorted),
    io:format("~n"
              "callers: Erlang processes (library, http) or Python threads (plain Python) calling at once.~n"
              "latency: one call, i.e. one whole batch; for http it includes JSON encoding and decoding in Erlang.~n").

progress(Format, Args) ->
    io:format("~nrunning ~ts ...~n", [io_lib:format(Format, Args)]).

loadavg() ->
    case file:read_file("/proc/loadavg") of
        {ok, Bin} -> lists:join(" ", lists:sublist(string:lexemes(Bin, " "), 3));
        {error, _} -> "unknown"
    end.

plural(1) -> "";
plural(_) -> "s".

join(Ns) ->
    lists:flatten(lists:join(",", [integer_to_list(N) || N <- Ns])).

num(N) when is_integer(N) -> integer_to_list(N);
num(F) -> float_to_list(F, [short]).

env_number(Name, Default) ->
    case os:getenv(Name) of
        false -> Default;
        "" -> Default;
        S ->
            try list_to_integer(S)
            catch error:badarg -> list_to_float(S)
            end
    end.

env_list(Name, Default) ->
    case os:getenv(Name) of
        false -> Default;
        "" -> Default;
        S -> [list_to_integer(X) || X <- string:lexemes(S, ",")]
    end.
