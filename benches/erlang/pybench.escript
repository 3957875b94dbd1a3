#!/usr/bin/env escript
%% -*- erlang -*-
%%
%% pybench: the project's benchmark harness for the public API of
%% erlang_python (figures a..k; docs/performance.md puts them beside the C
%% library's figures from benches/erlang/reference.json).
%%
%%   make pybench                      (the whole set, scale 1)
%%   ERL_LIBS=_build/default/lib escript benches/erlang/pybench.escript \
%%       [--only a,c,d] [--scale F] [--reps N] [--timeout S] \
%%       [--json PATH] [--md PATH] [--label TEXT] [--verbose] [-pa DIR...]
%%
%% The library is found like any escript finds code: ERL_LIBS, or -pa DIR.
%%
%% How it runs:
%%   - The driver writes pybench_helpers.py to a fresh temporary directory
%%     and puts that directory first on PYTHONPATH before any VM starts the
%%     application, so every interpreter the library creates (the main one
%%     and any own-GIL sub-interpreter) can import it.
%%   - Each benchmark id runs in its own child VM (this script again, with
%%     --child ID). The child starts the application, runs the cases of that
%%     id, and checkpoints every finished row to a result file. The driver
%%     kills a child that outlives --timeout. A crash, a hang, a missing
%%     function or an error marks only the rows that were not finished as
%%     n/a, with the reason.
%%   - Every row is the median (and min, max) over --reps timed repetitions
%%     after a warm-up. Latencies are the mean per operation of one rep.
%%
%% Output: a markdown table on stdout; the JSON document
%%   {"format": "pybench-rows/1", "meta": {...}, "rows": [Row, ...]}
%% to --json (default _build/pybench.json when run from a checkout, else a
%% temporary file), where a Row has id, key, name, unit, status, median, min,
%% max, reps, samples, note and per-benchmark extra fields.
%%
%% Exit status: 0 done (even with n/a rows), 1 bad arguments, 2 module py
%% not on the code path, 3 the application does not start in a child VM.
-mode(compile).

-record(opts, {only = all :: all | [atom()],
               scale = 1.0 :: float(),
               reps = 5 :: pos_integer(),
               timeout = 120 :: pos_integer(),
               label = "" :: string(),
               json :: string() | undefined,
               md :: string() | undefined,
               pa = [] :: [string()],
               verbose = false :: boolean(),
               child :: atom() | undefined,
               result :: string() | undefined}).

-define(IDS, [a, b, c, d1, d2, d3, e, f, g, h, i, j, k]).
-define(HELPERS, pybench_helpers).
-define(CHANNEL_MSG, {msg, 12345, <<"0123456789abcdef0123456789abcdef">>}).
-define(SMALL_MAP, #{<<"host">> => <<"localhost">>, <<"port">> => 8080}).

%%% =====================================================================
%%% Row catalogue: every row the harness reports, in report order.
%%% {Key, Id, Name, Unit}. Keys are shared with reference.json.
%%% =====================================================================

catalogue() ->
    [{'a.sqrt', a, "py:call(math, sqrt, [2.0]) sequential", "us/call"},
     {'a.tiny', a, "py:call(pybench_helpers, tiny, [1]) sequential", "us/call"},
     {'b.1', b, "tiny(1) throughput, 1 process", "calls/s"},
     {'b.2', b, "tiny(1) throughput, 2 processes", "calls/s"},
     {'b.8', b, "tiny(1) throughput, 8 processes", "calls/s"},
     {'b.64', b, "tiny(1) throughput, 64 processes", "calls/s"},
     {'c', c, "py:eval(<<\"1+1\">>)", "us/call"},
     {'d1.oneway', d1, "list of 100k ints, Erlang->Python only (len)", "ms"},
     {'d1.roundtrip', d1, "list of 100k ints, round trip (ident)", "ms"},
     {'d2.oneway', d2, "map with 10k binary keys, Erlang->Python only (len)", "ms"},
     {'d2.roundtrip', d2, "map with 10k binary keys, round trip (ident)", "ms"},
     {'d3.oneway', d3, "1 MiB binary, Erlang->Python only (len)", "ms"},
     {'d3.roundtrip', d3, "1 MiB binary, round trip (ident)", "ms"},
     {'e.1', e, "CPU-bound cpu(200000), 1 caller x 4 calls", "ms"},
     {'e.2', e, "CPU-bound cpu(200000), 2 callers x 4 calls each", "ms"},
     {'e.speedup', e, "CPU-bound speedup 2*T1/T2", "x"},
     {'f.prefill', f, "channel: 50k msgs sent, closed, then drained", "msgs/s"},
     {'f.concurrent', f, "channel: drained by spawn_call while sending", "msgs/s"},
     {'g.single', g, "spawn_call+await, one at a time", "us/op"},
     {'g.pipelined', g, "spawn_call x100, then await all", "us/op"},
     {'h', h, "py:call(pybench_helpers, kw, [1], #{b => 2})", "us/call"},
     {'i', i, "py:cast completion throughput", "casts/s"},
     {'j.set', j, "py:shared_dict_set, small map", "us/op"},
     {'j.get', j, "py:shared_dict_get, small map", "us/op"},
     {'k', k, "py:exec(<<\"pybench_x = 1\">>)", "us/call"}].

keys_of(Id) -> [K || {K, I, _, _} <- catalogue(), I =:= Id].

%%% =====================================================================
%%% Entry point and options
%%% =====================================================================

main(Argv) ->
    O = options(Argv, #opts{}),
    [code:add_patha(filename:absname(D)) || D <- O#opts.pa],
    case O#opts.child of
        undefined -> drive(O);
        Id -> child(Id, O)
    end.

options([], O) -> O;
options(["-pa" | More], O) ->
    {Dirs, Rest} = lists:splitwith(fun(A) -> hd(A) =/= $- end, More),
    options(Rest, O#opts{pa = O#opts.pa ++ Dirs});
options(["--only", L | Rest], O) -> options(Rest, O#opts{only = parse_ids(L)});
options(["--scale", S | Rest], O) ->
    case number(S) of
        X when X > 0 -> options(Rest, O#opts{scale = float(X)});
        _ -> usage_error("--scale wants a positive number, not ~s", [S])
    end;
options(["--reps", S | Rest], O) -> options(Rest, O#opts{reps = positive(S, "--reps")});
options(["--timeout", S | Rest], O) -> options(Rest, O#opts{timeout = positive(S, "--timeout")});
options(["--json", P | Rest], O) -> options(Rest, O#opts{json = P});
options(["--md", P | Rest], O) -> options(Rest, O#opts{md = P});
options(["--label", T | Rest], O) -> options(Rest, O#opts{label = T});
options(["--verbose" | Rest], O) -> options(Rest, O#opts{verbose = true});
options(["--child", Id, "--result", File | Rest], O) ->
    options(Rest, O#opts{child = list_to_atom(Id), result = File});
options([H | _], _) when H =:= "-h"; H =:= "--help" ->
    io:put_chars(
      "usage: pybench.escript [--only ids] [--scale F] [--reps N] [--timeout S]\n"
      "                       [--json PATH] [--md PATH] [--label TEXT] [--verbose] [-pa DIR...]\n"
      "  ids: a b c d1 d2 d3 e f g h i j k (d = d1,d2,d3), comma-separated\n"
      "  --scale F     multiplies the iteration counts (default 1)\n"
      "  --reps N      timed repetitions per row, after a warm-up (default 5)\n"
      "  --timeout S   deadline per benchmark id, in seconds (default 120)\n"
      "  --json PATH   JSON rows (default _build/pybench.json in a checkout)\n"
      "  --md PATH     also write the markdown report there\n"
      "The library comes from ERL_LIBS or -pa, like any escript's code.\n"),
    halt(0);
options([Other | _], _) ->
    usage_error("unknown argument ~s (try --help)", [Other]).

parse_ids(L) ->
    lists:usort(
      lists:flatmap(
        fun("d") -> [d1, d2, d3];
           (S) ->
                case [I || I <- ?IDS, atom_to_list(I) =:= S] of
                    [I] -> [I];
                    [] -> usage_error("unknown benchmark id ~s (ids: a b c d d1 d2 d3 e f g h i j k)", [S])
                end
        end, string:lexemes(L, ", "))).

positive(S, Flag) ->
    case catch list_to_integer(S) of
        N when is_integer(N), N > 0 -> N;
        _ -> usage_error("~s wants a positive integer, not ~s", [Flag, S])
    end.

number(S) ->
    case string:to_float(S) of
        {F, ""} -> F;
        _ -> case string:to_integer(S) of
                 {I, ""} -> I;
                 _ -> bad
             end
    end.

usage_error(Fmt, Args) ->
    io:format(standard_error, "pybench: " ++ Fmt ++ "~n", Args),
    halt(1).

%%% =====================================================================
%%% Driver
%%% =====================================================================

drive(O) ->
    case code:which(py) of
        non_existing ->
            io:format(standard_error,
                      "pybench: module py is not on the code path; run with "
                      "ERL_LIBS=<dir holding erlang_python/> or -pa <ebin>~n", []),
            halt(2);
        _ -> ok
    end,
    Started = erlang:monotonic_time(millisecond),
    Date = calendar:system_time_to_rfc3339(erlang:system_time(second)),
    Load = case first_line("/proc/loadavg") of
               null -> null;
               L -> iolist_to_binary(lists:join(" ", lists:sublist(string:lexemes(L, " "), 3)))
           end,
    Work = make_workdir(),
    ok = file:write_file(filename:join(Work, atom_to_list(?HELPERS) ++ ".py"), helper_source()),
    os:putenv("PYTHONPATH", case os:getenv("PYTHONPATH", "") of
                                "" -> Work;
                                Old -> Work ++ ":" ++ Old
                            end),
    Info = case launch(info, O, Work) of
               {done, #{info := I}, _} -> I;
               {_, _, Why} ->
                   io:format(standard_error,
                             "pybench: erlang_python does not start in a child VM: ~s~n", [Why]),
                   _ = file:del_dir_r(Work),
                   halt(3)
           end,
    Ids = case O#opts.only of all -> ?IDS; Only -> [I || I <- ?IDS, lists:member(I, Only)] end,
    Rows = lists:append([run_id(Id, N, length(Ids), O, Work)
                         || {N, Id} <- lists:zip(lists:seq(1, length(Ids)), Ids)]),
    Meta = maps:merge(Info, host_meta(O, Date, Load, Started)),
    _ = file:del_dir_r(Work),
    Md = markdown(Meta, Rows),
    io:put_chars(unicode:characters_to_binary(Md)),
    maybe_write(O#opts.md, Md, "markdown"),
    JsonPath = json_path(O),
    Doc = {obj, [{format, <<"pybench-rows/1">>}, {meta, Meta}, {rows, [row_json(R) || R <- Rows]}]},
    maybe_write(JsonPath, [json(Doc), $\n], "JSON"),
    halt(0).

json_path(#opts{json = P}) when P =/= undefined -> P;
json_path(_) ->
    case filelib:is_dir("_build") andalso filelib:is_regular("rebar.config") of
        true -> "_build/pybench.json";
        false -> filename:join(tmp_root(), "pybench.json")
    end.

maybe_write(undefined, _, _) -> ok;
maybe_write(Path, Data, What) ->
    _ = filelib:ensure_dir(Path),
    case file:write_file(Path, unicode:characters_to_binary(Data)) of
        ok -> io:format(standard_error, "pybench: ~s written to ~s~n", [What, Path]);
        {error, E} -> io:format(standard_error, "pybench: cannot write ~s: ~p~n", [Path, E])
    end.

tmp_root() ->
    case os:getenv("TMPDIR") of
        false -> "/tmp";
        "" -> "/tmp";
        T -> T
    end.

make_workdir() ->
    Dir = filename:join(tmp_root(), lists:flatten(io_lib:format("pybench-~s-~b",
                                                               [os:getpid(), erlang:unique_integer([positive])]))),
    ok = filelib:ensure_dir(filename:join(Dir, ".")),
    Dir.

%% One benchmark id in its own VM; returns its rows, n/a where missing.
run_id(Id, N, Of, O, Work) ->
    io:format(standard_error, "pybench: [~b/~b] ~s ...", [N, Of, Id]),
    T0 = erlang:monotonic_time(millisecond),
    {Outcome, Got, Why} = launch(Id, O, Work),
    Secs = (erlang:monotonic_time(millisecond) - T0) / 1000,
    io:format(standard_error, " ~.1f s~s~n",
              [Secs, case Outcome of done -> ""; _ -> " (" ++ Why ++ ")" end]),
    Produced = maps:get(rows, Got, []),
    Missing = case Outcome of
                  done -> "no row produced";
                  _ -> Why
              end,
    [case lists:keyfind(Key, 1, [{maps:get(key, R), R} || R <- Produced]) of
         {Key, R} -> finish_row(Key, R);
         false -> finish_row(Key, #{key => Key, status => na, reason => Missing})
     end || Key <- keys_of(Id)].

%% Starts `escript <this script> --child Id ...' and waits for it.
%% {done | crashed | timeout, ResultTerm, Reason}
launch(Id, O, Work) ->
    Result = filename:join(Work, atom_to_list(Id) ++ ".result"),
    _ = file:delete(Result),
    Args = [filename:absname(escript:script_name()),
            "--child", atom_to_list(Id), "--result", Result,
            "--scale", float_to_list(O#opts.scale, [short]),
            "--reps", integer_to_list(O#opts.reps),
            "--timeout", integer_to_list(O#opts.timeout)]
        ++ case O#opts.pa of [] -> []; Pa -> ["-pa" | [filename:absname(D) || D <- Pa]] end,
    Port = open_port({spawn_executable, escript_exe()},
                     [{args, Args}, exit_status, stderr_to_stdout, binary, {line, 2048}, hide]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    Deadline = erlang:monotonic_time(millisecond) + O#opts.timeout * 1000,
    {How, Tail} = watch(Port, Deadline, O#opts.verbose, []),
    Got = case file:read_file(Result) of
              {ok, Bin} -> binary_to_term(Bin);
              {error, _} -> #{}
          end,
    case How of
        {exit, 0} ->
            {done, Got, ""};
        {exit, Status} ->
            {crashed, Got, lists:flatten(["child VM ", exit_text(Status), last_words(Tail)])};
        timeout ->
            %% Our own child, by its OS pid; then reap it.
            _ = os:cmd("kill -KILL " ++ integer_to_list(OsPid)),
            _ = watch(Port, erlang:monotonic_time(millisecond) + 5000, false, []),
            catch port_close(Port),
            {timeout, Got, lists:flatten(io_lib:format("deadline of ~b s passed, child VM killed",
                                                       [O#opts.timeout]))}
    end.

escript_exe() ->
    Own = filename:join([code:root_dir(), "bin", "escript"]),
    case filelib:is_regular(Own) of
        true -> Own;
        false -> os:find_executable("escript")
    end.

watch(Port, Deadline, Verbose, Tail) ->
    receive
        {Port, {data, {_, Line}}} ->
            Verbose andalso io:format(standard_error, "  | ~ts~n", [Line]),
            watch(Port, Deadline, Verbose, lists:sublist([Line | Tail], 12));
        {Port, {exit_status, S}} ->
            {{exit, S}, Tail}
    after max(0, Deadline - erlang:monotonic_time(millisecond)) ->
        {timeout, Tail}
    end.

exit_text(S) when S > 128 ->
    Sig = S - 128,
    Name = proplists:get_value(Sig, [{4, "SIGILL"}, {6, "SIGABRT"}, {7, "SIGBUS"}, {8, "SIGFPE"},
                                     {9, "SIGKILL"}, {11, "SIGSEGV"}, {15, "SIGTERM"}], "signal"),
    io_lib:format("died: signal ~b (~s)", [Sig, Name]);
exit_text(S) ->
    io_lib:format("exited with status ~b", [S]).

%% Tail is newest first: the oldest line that names the failure (Python's
%% faulthandler, a Rust panic, erts), else the last line.
last_words([]) -> "";
last_words(Tail) ->
    Lines = [string:trim(unicode:characters_to_list(L, utf8)) || L <- lists:reverse(Tail)],
    Telling = [L || L <- Lines,
                    re:run(L, "Fatal Python error|panicked|Segmentation|Abort|Crash dump|error",
                           [caseless]) =/= nomatch],
    Pick = case Telling of [] -> lists:last(Lines); [T | _] -> T end,
    "; output: " ++ string:slice(Pick, 0, 160).

first_line(Path) ->
    case file:read_file(Path) of
        {ok, B} -> string:trim(hd(string:split(B, "\n")));
        _ -> null
    end.

cpu_model() ->
    case file:read_file("/proc/cpuinfo") of
        {ok, B} ->
            case re:run(B, "^model name\\s*:\\s*(.*)$", [multiline, {capture, all_but_first, binary}]) of
                {match, [M]} -> string:trim(M);
                nomatch -> null
            end;
        _ -> null
    end.

host_meta(O, Date, Load, Started) ->
    {Family, Name} = os:type(),
    OsVsn = case os:version() of
                {A, B, C} -> io_lib:format("~b.~b.~b", [A, B, C]);
                V -> V
            end,
    #{date => bin(Date),
      label => bin(O#opts.label),
      scale => O#opts.scale,
      reps => O#opts.reps,
      timeout_s => O#opts.timeout,
      otp_release => bin(erlang:system_info(otp_release)),
      erts_version => bin(erlang:system_info(version)),
      os => bin(io_lib:format("~s/~s ~s", [Family, Name, OsVsn])),
      hostname => bin(net_adm:localhost()),
      cpu_model => cpu_model(),
      logical_processors => case erlang:system_info(logical_processors_available) of
                                N when is_integer(N) -> N;
                                _ -> erlang:system_info(logical_processors)
                            end,
      schedulers => erlang:system_info(schedulers_online),
      loadavg_at_start => Load,
      total_seconds => round((erlang:monotonic_time(millisecond) - Started) / 100) / 10,
      harness => <<"benches/erlang/pybench.escript">>}.

%% A result row: catalogue name and unit, statistics over the samples, the
%% case's extra fields.
finish_row(Key, R) ->
    {Key, Id, Name, Unit} = lists:keyfind(Key, 1, catalogue()),
    Base = #{id => Id, key => Key, name => bin(Name), unit => bin(Unit)},
    case R of
        #{status := ok, samples := S, extra := Extra} ->
            Note = [maps:get(note, Extra, "")
                    | case maps:get(errors, Extra, 0) of
                          0 -> "";
                          E -> io_lib:format("; ~b calls returned errors", [E])
                      end],
            maps:merge(maps:without([note], Extra),
                       Base#{status => ok, samples => S, reps => length(S),
                             median => median(S), min => lists:min(S), max => lists:max(S),
                             note => bin(Note)});
        #{reason := Why} ->
            Base#{status => na, samples => [], reps => 0,
                  median => null, min => null, max => null, note => bin(Why)}
    end.

row_json(R) ->
    Front = [id, key, name, unit, status, median, min, max, reps],
    Rest = lists:sort(maps:keys(maps:without(Front, R))),
    {obj, [{K, maps:get(K, R)} || K <- Front ++ Rest]}.

%% Floats to 5 significant digits (at least one decimal).
tidy(X) when X == 0.0 -> 0.0;
tidy(X) ->
    D = max(1, 4 - floor(math:log10(abs(X)))),
    P = math:pow(10, D),
    round(X * P) / P.

median(S) ->
    Sorted = lists:sort(S),
    N = length(Sorted),
    case N rem 2 of
        1 -> lists:nth(N div 2 + 1, Sorted);
        0 -> (lists:nth(N div 2, Sorted) + lists:nth(N div 2 + 1, Sorted)) / 2
    end.

%%% ---------------------------------------------------------------------
%%% Markdown
%%% ---------------------------------------------------------------------

markdown(M, Rows) ->
    Line = fun(Label, Key) ->
                   case maps:get(Key, M, null) of
                       null -> [];
                       <<>> -> [];
                       V -> io_lib:format("- ~s: ~ts~n", [Label, text(V)])
                   end
           end,
    [io_lib:format("# pybench: erlang_python~n~n", []),
     Line("date", date), Line("label", label),
     Line("library", library_vsn), Line("library dir", library_dir),
     Line("Python", python_version), Line("execution mode", execution_mode),
     io_lib:format("- OTP ~s (erts ~s), ~ts~n",
                   [maps:get(otp_release, M), maps:get(erts_version, M), maps:get(os, M)]),
     Line("CPU", cpu_model), Line("logical processors", logical_processors),
     Line("load average at start", loadavg_at_start),
     io_lib:format("- scale ~s, ~b reps, deadline ~b s per id, ~s s in all~n~n",
                   [text(maps:get(scale, M)), maps:get(reps, M), maps:get(timeout_s, M),
                    text(maps:get(total_seconds, M))]),
     "| id | benchmark | unit | median | min | max | note |\n",
     "|----|-----------|------|-------:|----:|----:|------|\n",
     [io_lib:format("| ~s | ~ts | ~s | ~s | ~s | ~s | ~ts |~n",
                    [maps:get(id, R), cell(maps:get(name, R)), maps:get(unit, R),
                     fmt(maps:get(median, R)), fmt(maps:get(min, R)), fmt(maps:get(max, R)),
                     cell(maps:get(note, R))])
      || R <- Rows]].

cell(B) -> string:replace(unicode:characters_to_list(B), "|", "\\|", all).

text(B) when is_binary(B) -> unicode:characters_to_list(B);
text(F) when is_float(F) -> float_to_list(F, [short]);
text(I) when is_integer(I) -> integer_to_list(I);
text(A) when is_atom(A) -> atom_to_list(A);
text(L) -> L.

fmt(null) -> "n/a";
fmt(X) when abs(X) >= 1000 -> group(integer_to_list(round(X)));
fmt(X) when abs(X) >= 10 -> float_to_list(float(X), [{decimals, 1}]);
fmt(X) when abs(X) >= 1 -> float_to_list(float(X), [{decimals, 2}]);
fmt(X) when abs(X) >= 0.01 -> float_to_list(float(X), [{decimals, 3}]);
fmt(X) -> io_lib:format("~.3g", [float(X)]).

group(Digits) when length(Digits) =< 4 -> Digits;
group(Digits) ->
    {Head, Tail} = lists:split(length(Digits) rem 3, Digits),
    Groups = [lists:sublist(Tail, P, 3) || P <- lists:seq(1, length(Tail), 3)],
    string:join([G || G <- [Head | Groups], G =/= ""], " ").

%%% ---------------------------------------------------------------------
%%% JSON (OTP 25 has no json module). Terms: {obj, [{K, V}]}, maps,
%%% binaries (strings), lists (arrays), numbers, true/false/null, atoms.
%%% ---------------------------------------------------------------------

json({obj, Pairs}) ->
    [${, lists:join($,, [[json_str(key(K)), $:, json(V)] || {K, V} <- Pairs]), $}];
json(M) when is_map(M) ->
    json({obj, lists:sort(maps:to_list(M))});
json(L) when is_list(L) -> [$[, lists:join($,, [json(X) || X <- L]), $]];
json(B) when is_binary(B) -> json_str(B);
json(I) when is_integer(I) -> integer_to_list(I);
json(F) when is_float(F) -> float_to_list(tidy(F), [short]);
json(A) when A =:= true; A =:= false; A =:= null -> atom_to_list(A);
json(A) when is_atom(A) -> json_str(atom_to_binary(A, utf8)).

key(K) when is_atom(K) -> atom_to_binary(K, utf8);
key(K) -> bin(K).

json_str(B) -> [$", [esc(C) || <<C/utf8>> <= B], $"].

esc($") -> "\\\"";
esc($\\) -> "\\\\";
esc($\n) -> "\\n";
esc($\t) -> "\\t";
esc(C) when C < 16#20 -> io_lib:format("\\u~4.16.0b", [C]);
esc(C) -> <<C/utf8>>.

bin(null) -> null;
bin(B) when is_binary(B) -> B;
bin(A) when is_atom(A) -> atom_to_binary(A, utf8);
bin(L) -> unicode:characters_to_binary(L).

%%% =====================================================================
%%% Python helpers, imported as pybench_helpers from PYTHONPATH
%%% =====================================================================

helper_source() ->
    <<"\"\"\"Functions the pybench harness calls (written by benches/erlang/pybench.escript).\"\"\"\n"
      "import os\n"
      "\n"
      "\n"
      "def ident(value):\n"
      "    \"\"\"d1-d3: the argument back, converted both ways.\"\"\"\n"
      "    return value\n"
      "\n"
      "\n"
      "def tiny(n):\n"
      "    \"\"\"a, b: the smallest Python-level call.\"\"\"\n"
      "    return n + 1\n"
      "\n"
      "\n"
      "def kw(a, b=0):\n"
      "    \"\"\"h: one keyword argument.\"\"\"\n"
      "    return a + b\n"
      "\n"
      "\n"
      "def cpu(n):\n"
      "    \"\"\"e: pure-Python work that holds the GIL (or this interpreter's GIL).\"\"\"\n"
      "    return sum(i * i for i in range(n))\n"
      "\n"
      "\n"
      "def touch(path):\n"
      "    \"\"\"i: one byte appended per cast, so Erlang sees completions in the file size.\"\"\"\n"
      "    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)\n"
      "    try:\n"
      "        os.write(fd, b'+')\n"
      "    finally:\n"
      "        os.close(fd)\n"
      "\n"
      "\n"
      "def drain(handle):\n"
      "    \"\"\"f: receive until the channel is closed; the count of terms.\"\"\"\n"
      "    from erlang.channel import Channel\n"
      "    count = 0\n"
      "    for _term in Channel(handle):\n"
      "        count += 1\n"
      "    return count\n">>.

%%% =====================================================================
%%% Child VM: start the application, run the cases of one id
%%% =====================================================================

child(Id, O) ->
    File = O#opts.result,
    %% Backstop in case the driver is gone and cannot kill us.
    _ = spawn(fun() -> timer:sleep((O#opts.timeout + 15) * 1000), erlang:halt(124) end),
    case application:ensure_all_started(erlang_python) of
        {ok, _} -> ok;
        Err ->
            io:format(standard_error, "pybench child: cannot start erlang_python: ~0p~n", [Err]),
            erlang:halt(3)
    end,
    Ctx = #{scale => O#opts.scale, reps => O#opts.reps, dir => filename:dirname(File)},
    case Id of
        info -> save(File, #{info => probe()});
        _ -> run_cases(Id, Ctx, File)
    end,
    %% Leave without an orderly shutdown of the embedded interpreter.
    erlang:halt(0).

save(File, Term) ->
    Tmp = File ++ ".tmp",
    ok = file:write_file(Tmp, term_to_binary(Term)),
    ok = file:rename(Tmp, File).

probe() ->
    PyVersion = case catch py:eval(<<"__import__('sys').version">>) of
                    {ok, V} when is_binary(V) -> V;
                    Other -> bin(io_lib:format("unknown: ~0p", [Other]))
                end,
    Vsn = case application:get_key(erlang_python, vsn) of
              {ok, S} -> bin(S);
              _ -> null
          end,
    Mode = case catch py:execution_mode() of
               M when is_atom(M) -> M;
               _ -> null
           end,
    #{python_version => PyVersion,
      library_vsn => Vsn,
      library_dir => case code:lib_dir(erlang_python) of
                         D when is_list(D) -> bin(D);
                         _ -> null
                     end,
      execution_mode => Mode,
      helpers_importable => catch py:call(?HELPERS, tiny, [1]) =:= {ok, 2}}.

%% Runs the cases of Id one after the other, checkpointing the rows.
%% A case is {Key, Fun} or {[Key], Fun}; Fun(State, Ctx) returns
%% {Samples, Extra} or, for a list of keys, a list of them.
run_cases(Id, Ctx, File) ->
    {Setup, Cases} = bench(Id),
    State = attempt(fun() -> {ready, Setup(Ctx)} end),
    lists:foldl(
      fun({Keys, Fun}, Done) ->
              Rows = case State of
                         {ready, S} -> case_rows(Keys, attempt(fun() -> Fun(S, Ctx) end));
                         {na, Why} -> [na(K, Why) || K <- as_list(Keys)]
                     end,
              All = Done ++ Rows,
              save(File, #{rows => All}),
              All
      end, [], Cases).

case_rows(Keys, {na, Why}) -> [na(K, Why) || K <- as_list(Keys)];
case_rows(Key, {Samples, Extra}) when is_atom(Key) -> [ok_row(Key, Samples, Extra)];
case_rows(Keys, Results) when is_list(Keys), length(Keys) =:= length(Results) ->
    [ok_row(K, S, E) || {K, {S, E}} <- lists:zip(Keys, Results)].

ok_row(Key, Samples, Extra) ->
    #{key => Key, status => ok, samples => Samples, extra => Extra}.

na(Key, Why) -> #{key => Key, status => na, reason => Why}.

as_list(K) when is_atom(K) -> [K];
as_list(L) -> L.

%% Runs F; {na, Reason} for a throw({na, _}), an error or an exit.
attempt(F) ->
    try F()
    catch
        throw:{na, Why} -> {na, flat(Why)};
        Class:Reason:Stack -> {na, flat(failure(Class, Reason, Stack))}
    end.

failure(error, undef, [{M, F, Args, _} | _]) when is_list(Args) ->
    io_lib:format("missing API ~s:~s/~b", [M, F, length(Args)]);
failure(error, undef, [{M, F, Arity, _} | _]) when is_integer(Arity) ->
    io_lib:format("missing API ~s:~s/~b", [M, F, Arity]);
failure(Class, Reason, Stack) ->
    io_lib:format("~s: ~0P at ~0P", [Class, Reason, 12, hd(Stack ++ [none]), 6]).

flat(IoData) -> string:slice(lists:flatten(io_lib:format("~ts", [IoData])), 0, 300).

%%% =====================================================================
%%% The benchmarks: bench(Id) -> {Setup, [{Key | [Key], Fun}]}
%%% =====================================================================

bench(a) ->
    {fun(_) -> ok end,
     [{'a.sqrt',
       fun(_, C) ->
               Op = fun() -> py:call(math, sqrt, [2.0]) end,
               expect(Op, fun({ok, F}) -> is_float(F); (_) -> false end, "py:call(math, sqrt, [2.0])"),
               N = scaled(C, 20000),
               {Samples, Extra} = latency(C, N, min(N, 2000), Op),
               Single = lists:sort([one_call_us(Op) || _ <- lists:seq(1, min(N, 5000))]),
               P50 = percentile(Single, 50), P99 = percentile(Single, 99),
               {Samples, Extra#{p50_us => P50, p99_us => P99, timed_singly => length(Single),
                                note => io_lib:format("~b calls/rep; single calls p50 ~s, p99 ~s us",
                                                      [N, fmt(P50), fmt(P99)])}}
       end},
      {'a.tiny',
       fun(_, C) ->
               need_helpers(),
               Op = fun() -> py:call(?HELPERS, tiny, [1]) end,
               expect(Op, {ok, 2}, "pybench_helpers.tiny(1)"),
               N = scaled(C, 20000),
               {Samples, Extra} = latency(C, N, min(N, 2000), Op),
               {Samples, Extra#{note => io_lib:format("~b calls/rep, the function of b", [N])}}
       end}]};

bench(b) ->
    {fun(_) -> need_helpers() end,
     [{list_to_atom("b." ++ integer_to_list(P)),
       fun(_, C) ->
               Op = fun() -> py:call(?HELPERS, tiny, [1]) end,
               expect(Op, {ok, 2}, "pybench_helpers.tiny(1)"),
               PerProc = max(1, scaled(C, 20000) div P),
               _ = gang(P, max(1, 1000 div P), Op),
               Runs = [gang(P, PerProc, Op) || _ <- reps(C)],
               Errors = lists:sum([E || {_, E} <- Runs]),
               {[P * PerProc / (Us / 1.0e6) || {Us, _} <- Runs],
                #{procs => P, calls_per_proc => PerProc, errors => Errors,
                  note => io_lib:format("~s x ~b calls", [count(P, "process", "processes"), PerProc])}}
       end} || P <- [1, 2, 8, 64]]};

bench(c) ->
    {fun(_) -> ok end,
     [{'c',
       fun(_, C) ->
               Op = fun() -> py:eval(<<"1+1">>) end,
               expect(Op, {ok, 2}, "py:eval(<<\"1+1\">>)"),
               N = scaled(C, 10000),
               {Samples, Extra} = latency(C, N, min(N, 1000), Op),
               {Samples, Extra#{note => io_lib:format("~b evals/rep", [N])}}
       end}]};

bench(d1) -> conversion('d1', fun() -> lists:seq(1, 100000) end, 100000);
bench(d2) ->
    conversion('d2', fun() -> maps:from_list([{<<"key_", (integer_to_binary(I))/binary>>, I}
                                              || I <- lists:seq(1, 10000)])
                     end, 10000);
bench(d3) -> conversion('d3', fun() -> binary:copy(<<"0123456789abcdef">>, 65536) end, 1 bsl 20);

bench(e) ->
    {fun(_) -> need_helpers() end,
     [{['e.1', 'e.2', 'e.speedup'],
       fun(_, C) ->
               Size = 200000,
               Op = fun() -> py:call(?HELPERS, cpu, [Size]) end,
               expect(Op, {ok, (Size - 1) * Size * (2 * Size - 1) div 6}, "pybench_helpers.cpu(200000)"),
               _ = gang(1, 2, Op),
               K = max(1, scaled(C, 4)),
               %% T1 and T2 measured in turn, so each speedup compares
               %% neighbouring measurements.
               Pairs = [{wall_ms(1, K, Op), wall_ms(2, K, Op)} || _ <- reps(C)],
               T1 = [A || {A, _} <- Pairs],
               T2 = [B || {_, B} <- Pairs],
               [{T1, #{callers => 1, calls_per_caller => K,
                       note => io_lib:format("1 process, ~s in a row", [count(K, "call", "calls")])}},
                {T2, #{callers => 2, calls_per_caller => K,
                       note => io_lib:format("2 processes at once, ~s each", [count(K, "call", "calls")])}},
                {[2 * A / B || {A, B} <- Pairs],
                 #{note => "2*T1/T2 per rep: 1.0 = the calls ran one at a time, 2.0 = fully parallel"}}]
       end}]};

bench(f) ->
    {fun(_) ->
             need_helpers(),
             code:ensure_loaded(py_channel) =:= {module, py_channel}
                 orelse throw({na, "module py_channel missing"})
     end,
     [{'f.prefill',
       fun(_, C) ->
               N = scaled(C, 50000),
               _ = channel_prefill(min(N, 1000)),
               Runs = [channel_prefill(N) || _ <- reps(C)],
               SendOnly = median([S || {_, S} <- Runs]),
               {[R || {R, _} <- Runs],
                #{msgs_per_rep => N, send_only_rate => SendOnly,
                  note => io_lib:format("~b msgs/rep, send+close+drain; send alone ~s msgs/s",
                                        [N, fmt(SendOnly)])}}
       end},
      {'f.concurrent',
       fun(_, C) ->
               N = scaled(C, 50000),
               _ = channel_concurrent(min(N, 1000)),
               {[channel_concurrent(N) || _ <- reps(C)],
                #{msgs_per_rep => N, note => io_lib:format("~b msgs/rep, end to end", [N])}}
       end}]};

bench(g) ->
    Op = fun() -> py:await(py:spawn_call(math, sqrt, [2.0])) end,
    {fun(_) -> expect(Op, fun({ok, F}) -> is_float(F); (_) -> false end,
                      "py:await(py:spawn_call(math, sqrt, [2.0]))")
     end,
     [{'g.single',
       fun(_, C) ->
               N = scaled(C, 5000),
               {Samples, Extra} = latency(C, N, min(N, 500), Op),
               {Samples, Extra#{note => io_lib:format("~b ops/rep", [N])}}
       end},
      {'g.pipelined',
       fun(_, C) ->
               Batches = max(1, scaled(C, 5000) div 100),
               Batch = fun() ->
                               Refs = [py:spawn_call(math, sqrt, [2.0]) || _ <- lists:seq(1, 100)],
                               length([bad || R <- Refs, not good(py:await(R))])
                       end,
               _ = repeat_sum(max(1, Batches div 10), Batch),
               Runs = [begin
                           T0 = now_ns(),
                           Bad = repeat_sum(Batches, Batch),
                           {(now_ns() - T0) / 1000 / (Batches * 100), Bad}
                       end || _ <- reps(C)],
               Errors = lists:sum([E || {_, E} <- Runs]),
               {[U || {U, _} <- Runs],
                #{ops_per_rep => Batches * 100, errors => Errors,
                  note => io_lib:format("~b batches of 100/rep", [Batches])}}
       end}]};

bench(h) ->
    {fun(_) -> need_helpers() end,
     [{'h',
       fun(_, C) ->
               Op = fun() -> py:call(?HELPERS, kw, [1], #{b => 2}) end,
               expect(Op, {ok, 3}, "py:call(pybench_helpers, kw, [1], #{b => 2})"),
               N = scaled(C, 10000),
               {Samples, Extra} = latency(C, N, min(N, 1000), Op),
               {Samples, Extra#{note => io_lib:format("~b calls/rep", [N])}}
       end}]};

bench(i) ->
    {fun(_) -> need_helpers() end,
     [{'i',
       fun(_, C) ->
               N = scaled(C, 2000),
               Dir = maps:get(dir, C),
               _ = cast_run(Dir, min(N, 200)),
               Runs = [cast_run(Dir, N) || _ <- reps(C)],
               Issue = median([I || {_, I} <- Runs]),
               {[R || {R, _} <- Runs],
                #{casts_per_rep => N, issue_only_rate => Issue,
                  note => io_lib:format("~b casts/rep, until all ran; issuing alone ~s casts/s",
                                        [N, fmt(Issue)])}}
       end}]};

bench(j) ->
    {fun(_) ->
             SD = case py:shared_dict_new() of
                      {ok, H} -> H;
                      Other -> throw({na, io_lib:format("py:shared_dict_new() returned ~0P", [Other, 10])})
                  end,
             ok = py:shared_dict_set(SD, <<"cfg">>, ?SMALL_MAP),
             SD
     end,
     [{'j.set',
       fun(SD, C) ->
               Op = fun() -> py:shared_dict_set(SD, <<"cfg">>, ?SMALL_MAP) end,
               expect(Op, ok, "py:shared_dict_set/3"),
               N = scaled(C, 20000),
               {Samples, Extra} = latency(C, N, min(N, 1000), Op),
               {Samples, Extra#{note => io_lib:format("~b ops/rep", [N])}}
       end},
      {'j.get',
       fun(SD, C) ->
               Op = fun() -> py:shared_dict_get(SD, <<"cfg">>) end,
               Got = Op(),
               Equal = Got =:= ?SMALL_MAP orelse Got =:= {ok, ?SMALL_MAP},
               N = scaled(C, 20000),
               {Samples, Extra} = latency(C, N, min(N, 1000), Op),
               {Samples, Extra#{value_equal => Equal,
                                note => io_lib:format("~b ops/rep; value ~s", [N, equal_text(Equal)])}}
       end}]};

bench(k) ->
    {fun(_) -> ok end,
     [{'k',
       fun(_, C) ->
               Op = fun() -> py:exec(<<"pybench_x = 1">>) end,
               expect(Op, ok, "py:exec(<<\"pybench_x = 1\">>)"),
               Visible = py:exec(<<"def pybench_double(x):\n    return x * 2\n">>) =:= ok
                   andalso (catch py:call('__main__', pybench_double, [21])) =:= {ok, 42},
               N = scaled(C, 10000),
               {Samples, Extra} = latency(C, N, min(N, 1000), Op),
               {Samples, Extra#{exec_def_callable_as_main => Visible,
                                note => io_lib:format("~b execs/rep; a def made by py:exec is~s "
                                                      "callable as __main__.<name>",
                                                      [N, case Visible of true -> ""; false -> " not" end])}}
       end}]}.

%% d1-d3: two rows, the one-way conversion (builtins.len) first, so that a
%% crash in the round trip still leaves it.
conversion(Id, Make, Len) ->
    Key = fun(Suffix) -> list_to_atom(atom_to_list(Id) ++ Suffix) end,
    {fun(_) -> Make() end,
     [{Key(".oneway"),
       fun(Term, C) ->
               Op = fun() -> py:call(builtins, len, [Term]) end,
               expect(Op, {ok, Len}, "py:call(builtins, len, [Term])"),
               conversion_samples(C, Op, #{len => Len}, "")
       end},
      {Key(".roundtrip"),
       fun(Term, C) ->
               need_helpers(),
               Op = fun() -> py:call(?HELPERS, ident, [Term]) end,
               Equal = case Op() of
                           {ok, Term} -> true;
                           {ok, _} -> false;
                           Err -> throw({na, io_lib:format("pybench_helpers.ident returned ~0P", [Err, 8])})
                       end,
               conversion_samples(C, Op, #{roundtrip_equal => Equal},
                                  "; result " ++ equal_text(Equal) ++ " to the input")
       end}]}.

conversion_samples(C, Op, Extra, Note) ->
    N = max(1, scaled(C, 5)),
    {Us, Base} = latency(C, N, 2, Op),
    {[U / 1000 || U <- Us],
     maps:merge(Base, Extra#{note => io_lib:format("~s/rep~s", [count(N, "call", "calls"), Note])})}.

count(1, One, _) -> "1 " ++ One;
count(N, _, Many) -> integer_to_list(N) ++ " " ++ Many.

equal_text(true) -> "equal";
equal_text(false) -> "NOT equal".


%%% ---------------------------------------------------------------------
%%% f and i
%%% ---------------------------------------------------------------------

%% {end-to-end msgs/s, send-only msgs/s}
channel_prefill(N) ->
    {ok, Ch} = py_channel:new(),
    T0 = now_ns(),
    send_all(Ch, N),
    ok = py_channel:close(Ch),
    T1 = now_ns(),
    case py:call(?HELPERS, drain, [Ch]) of
        {ok, N} -> ok;
        Other -> throw({na, io_lib:format("drain returned ~0P", [Other, 8])})
    end,
    T2 = now_ns(),
    {N / ((T2 - T0) / 1.0e9), N / (max(1, T1 - T0) / 1.0e9)}.

channel_concurrent(N) ->
    {ok, Ch} = py_channel:new(),
    T0 = now_ns(),
    Ref = py:spawn_call(?HELPERS, drain, [Ch]),
    send_all(Ch, N),
    ok = py_channel:close(Ch),
    case py:await(Ref, 60000) of
        {ok, N} -> N / ((now_ns() - T0) / 1.0e9);
        Other -> throw({na, io_lib:format("drain via spawn_call returned ~0P", [Other, 8])})
    end.

send_all(_Ch, 0) -> ok;
send_all(Ch, N) ->
    case py_channel:send(Ch, ?CHANNEL_MSG) of
        ok -> send_all(Ch, N - 1);
        busy -> timer:sleep(1), send_all(Ch, N);
        Other -> throw({na, io_lib:format("py_channel:send returned ~0P", [Other, 8])})
    end.

%% {completed casts/s, issued casts/s}: K casts that each append a byte to
%% a fresh file; done when the file holds K bytes.
cast_run(Dir, K) ->
    Path = filename:join(Dir, "casts-" ++ integer_to_list(erlang:unique_integer([positive]))),
    Arg = list_to_binary(Path),
    T0 = now_ns(),
    cast_n(K, Arg),
    T1 = now_ns(),
    wait_size(Path, K, erlang:monotonic_time(millisecond) + 30000),
    T2 = now_ns(),
    _ = file:delete(Path),
    {K / ((T2 - T0) / 1.0e9), K / (max(1, T1 - T0) / 1.0e9)}.

cast_n(0, _) -> ok;
cast_n(K, Arg) ->
    case py:cast(?HELPERS, touch, [Arg]) of
        ok -> cast_n(K - 1, Arg);
        Other -> throw({na, io_lib:format("py:cast returned ~0P", [Other, 8])})
    end.

wait_size(Path, K, Deadline) ->
    case filelib:file_size(Path) of
        Size when Size >= K -> ok;
        Size ->
            erlang:monotonic_time(millisecond) < Deadline
                orelse throw({na, io_lib:format("~b of ~b casts ran within 30 s", [Size, K])}),
            timer:sleep(1),
            wait_size(Path, K, Deadline)
    end.

%%% ---------------------------------------------------------------------
%%% Measurement
%%% ---------------------------------------------------------------------

reps(#{reps := R}) -> lists:seq(1, R).

scaled(#{scale := S}, N) -> max(1, round(N * S)).

now_ns() -> erlang:monotonic_time(nanosecond).

need_helpers() ->
    case catch py:call(?HELPERS, tiny, [1]) of
        {ok, 2} -> ok;
        Other -> throw({na, io_lib:format("pybench_helpers not importable: ~0P", [Other, 8])})
    end.

%% One call first, to fail with what it returned rather than a bad figure.
expect(Op, Pred, What) when is_function(Pred, 1) ->
    R = Op(),
    Pred(R) orelse throw({na, io_lib:format("~s returned ~0P", [What, R, 8])}),
    ok;
expect(Op, Want, What) ->
    expect(Op, fun(R) -> R =:= Want end, What).

good({error, _}) -> false;
good(error) -> false;
good(_) -> true.

%% Calls Op K times; the number of error results.
spin(0, _Op, Bad) -> Bad;
spin(K, Op, Bad) ->
    case good(Op()) of
        true -> spin(K - 1, Op, Bad);
        false -> spin(K - 1, Op, Bad + 1)
    end.

repeat_sum(0, _F) -> 0;
repeat_sum(K, F) -> F() + repeat_sum(K - 1, F).

%% Mean microseconds per call, one sample per rep, after Warm calls.
latency(C, N, Warm, Op) ->
    _ = spin(Warm, Op, 0),
    Runs = [begin
                T0 = now_ns(),
                Bad = spin(N, Op, 0),
                {(now_ns() - T0) / 1000 / N, Bad}
            end || _ <- reps(C)],
    Errors = lists:sum([B || {_, B} <- Runs]),
    Errors < N * length(Runs) orelse throw({na, "every timed call returned an error"}),
    {[U || {U, _} <- Runs], #{ops_per_rep => N, errors => Errors}}.

one_call_us(Op) ->
    T0 = now_ns(),
    _ = Op(),
    (now_ns() - T0) / 1000.

percentile(Sorted, P) ->
    lists:nth(max(1, min(length(Sorted), round(P / 100 * length(Sorted)))), Sorted).

%% P processes, released together, each making PerProc calls:
%% {elapsed microseconds, error results}.
gang(P, PerProc, Op) ->
    Self = self(),
    Go = make_ref(),
    Workers = [spawn_monitor(fun() ->
                                     receive Go -> ok end,
                                     Self ! {Go, self(), spin(PerProc, Op, 0)}
                             end) || _ <- lists:seq(1, P)],
    T0 = now_ns(),
    [W ! Go || {W, _} <- Workers],
    Bad = gather(Workers, Go, 0),
    {(now_ns() - T0) / 1000, Bad}.

gather([], _Go, Bad) -> Bad;
gather([{W, M} | Rest], Go, Bad) ->
    receive
        {Go, W, B} ->
            erlang:demonitor(M, [flush]),
            gather(Rest, Go, Bad + B);
        {'DOWN', M, process, W, Why} ->
            throw({na, io_lib:format("a calling process died: ~0P", [Why, 10])})
    end.

%% Wall milliseconds for P processes making K calls each, none failing.
wall_ms(P, K, Op) ->
    case gang(P, K, Op) of
        {Us, 0} -> Us / 1000;
        {_, Bad} -> throw({na, io_lib:format("~b of ~b calls returned errors", [Bad, P * K])})
    end.
