%% @doc Virtual environments for every interpreter.
%%
%% `activate/1' adds the environment's site-packages in every live
%% interpreter (through `site.addsitedir', so `.pth' files and editable
%% installs work) ahead of everything else on `sys.path'; contexts started
%% later activate it too (the venv already active is left as it is, with
%% paths added since). `deactivate/0' removes exactly what activation
%% added. `ensure/3' creates and fills an
%% environment first; programs run by argv with `open_port/2', never
%% through a shell.
-module(py_venv).

-export([activate/1, deactivate/0, info/0, ensure/3]).

%% Default for the whole of `ensure/3' (creation and installation).
-define(ENSURE_TIMEOUT, 300000).
%% Lines of installer output kept for the error term.
-define(TAIL_LINES, 40).
%% Longest line logged whole; longer ones are logged in pieces.
-define(LINE_MAX, 4096).

-spec activate(iodata()) -> ok | {error, term()}.
activate(Path) ->
    Abs = unicode:characters_to_binary(filename:absname(Path)),
    case py_call:each_interpreter('_venv_activate', [Abs]) of
        ok ->
            py_import:set_venv(Abs);
        {error, [{_Ctx, {'ValueError', "no_site_packages_found"}} | _]} ->
            {error, {invalid_venv, no_site_packages_found}};
        {error, [{_Ctx, {'ValueError', Message}} | _]} ->
            {error, {invalid_venv, unicode:characters_to_binary(Message)}};
        {error, [{_Ctx, Reason} | _]} ->
            {error, Reason}
    end.

-spec deactivate() -> ok | {error, term()}.
deactivate() ->
    ok = py_import:set_venv(undefined),
    py_call:each_interpreter('_venv_deactivate', []).

-spec info() -> {ok, map()} | {error, term()}.
info() ->
    py_call:call(erlang, '_venv_info', []).

%% @doc Creates `Path' if it holds no `pyvenv.cfg' (or with `force'),
%% installs `ReqFile' (`*.toml': the project in its directory, editable,
%% with `{extras, [Name]}'; otherwise a requirements file) with `uv' when
%% it is on PATH, else pip (`{installer, uv | pip}' chooses), then
%% activates it. `{python, Exe}': the interpreter that creates it (default:
%% the one running here). `{timeout, Ms | infinity}' bounds the whole
%% (default 300 000 ms); past it the installer is killed and the result is
%% `{error, {timeout, LastLines}}'. Each line the tools print goes to
%% `logger' as it comes, at `{log_level, Level}' (default `info'; `none'
%% logs nothing), with metadata `#{erlang_python => venv}'.
-spec ensure(iodata(), iodata(), list()) -> ok | {error, term()}.
ensure(Path0, ReqFile0, Opts) ->
    case check_opts(Opts) of
        ok ->
            Path = filename:absname(unicode:characters_to_list(Path0)),
            ReqFile = filename:absname(unicode:characters_to_list(ReqFile0)),
            Deadline = case proplists:get_value(timeout, Opts, ?ENSURE_TIMEOUT) of
                           infinity -> infinity;
                           Ms -> erlang:monotonic_time(millisecond) + Ms
                       end,
            Run = #{deadline => Deadline, log_level => proplists:get_value(log_level, Opts, info)},
            Installer = installer(Opts),
            Steps = [fun() -> create(Path, Installer, Opts, Run) end,
                     fun() -> install(Path, ReqFile, Installer, Opts, Run) end,
                     fun() -> activate(Path) end],
            case filelib:is_regular(ReqFile) of
                false -> {error, {no_such_file, unicode:characters_to_binary(ReqFile)}};
                true -> run_steps(Steps)
            end;
        Error ->
            Error
    end.

check_opts(Opts) when is_list(Opts) ->
    Bad = [O || O <- Opts, not valid_opt(O)],
    case Bad of
        [] -> ok;
        [First | _] -> {error, {bad_option, First}}
    end;
check_opts(Opts) ->
    {error, {bad_argument, Opts}}.

valid_opt(force) -> true;
valid_opt({force, B}) -> is_boolean(B);
valid_opt({installer, I}) -> I =:= uv orelse I =:= pip;
valid_opt({extras, L}) -> is_list(L);
valid_opt({python, P}) -> is_list(P) orelse is_binary(P) orelse is_atom(P);
valid_opt({timeout, T}) -> T =:= infinity orelse (is_integer(T) andalso T > 0);
valid_opt({log_level, L}) ->
    lists:member(L, [none, debug, info, notice, warning, error, critical, alert, emergency]);
valid_opt(_) -> false.

run_steps([]) -> ok;
run_steps([Step | Rest]) ->
    case Step() of
        ok -> run_steps(Rest);
        Error -> Error
    end.

installer(Opts) ->
    case proplists:get_value(installer, Opts) of
        undefined ->
            case os:find_executable("uv") of
                false -> pip;
                _ -> uv
            end;
        I ->
            I
    end.

create(Path, Installer, Opts, Run) ->
    Exists = filelib:is_regular(filename:join(Path, "pyvenv.cfg")),
    case Exists andalso not proplists:get_bool(force, Opts) of
        true ->
            ok;
        false ->
            Python = python(Opts),
            case Installer of
                uv -> run("uv", ["venv", "--python", Python, Path], Run);
                pip -> run(Python, ["-m", "venv", "--clear", Path], Run)
            end
    end.

install(Path, ReqFile, Installer, Opts, Run) ->
    VenvPython = filename:join([Path, "bin", "python"]),
    What = case filename:extension(ReqFile) of
               ".toml" -> ["-e", filename:dirname(ReqFile) ++ extras(Opts)];
               _ -> ["-r", ReqFile]
           end,
    case Installer of
        uv -> run("uv", ["pip", "install", "--python", VenvPython | What], Run);
        pip -> run(VenvPython, ["-m", "pip", "install", "--disable-pip-version-check",
                                "--progress-bar", "off" | What], Run)
    end.

extras(Opts) ->
    case proplists:get_value(extras, Opts, []) of
        [] -> "";
        Extras -> "[" ++ lists:join(",", [to_list(E) || E <- Extras]) ++ "]"
    end.

python(Opts) ->
    case proplists:get_value(python, Opts) of
        undefined -> to_list(maps:get(executable, py_nif:python_info()));
        Exe -> to_list(Exe)
    end.

to_list(B) when is_binary(B) -> unicode:characters_to_list(B);
to_list(A) when is_atom(A) -> atom_to_list(A);
to_list(L) when is_list(L) -> L.

%% Runs `Exe Args' (no shell), logging its output line by line and
%% keeping the last lines for the error term.
run(Exe, Args, Run) ->
    case find(Exe) of
        false ->
            {error, {executable_not_found, unicode:characters_to_binary(Exe)}};
        Found ->
            log(Run, "running ~ts ~ts", [Found, lists:join(" ", Args)]),
            Port = open_port({spawn_executable, Found},
                             [{args, Args}, {line, ?LINE_MAX}, exit_status, stderr_to_stdout,
                              binary, use_stdio, hide]),
            collect(Port, Run, {[], 0}, [])
    end.

find(Exe) ->
    case filename:pathtype(Exe) of
        absolute ->
            case filelib:is_regular(Exe) of
                true -> Exe;
                false -> false
            end;
        _ ->
            os:find_executable(Exe)
    end.

%% `Tail' holds the last ?TAIL_LINES lines (newest first) and its length;
%% `Part' the pieces of a line longer than ?LINE_MAX.
collect(Port, #{deadline := Deadline} = Run, Tail, Part) ->
    receive
        {Port, {data, {noeol, Piece}}} ->
            collect(Port, Run, Tail, [Piece | Part]);
        {Port, {data, {eol, Piece}}} ->
            Line = iolist_to_binary(lists:reverse([Piece | Part])),
            log(Run, "~ts", [Line]),
            collect(Port, Run, keep(Line, Tail), []);
        {Port, {exit_status, 0}} ->
            ok;
        {Port, {exit_status, Code}} ->
            {error, {exit_code, Code, tail_text(Tail)}}
    after remaining(Deadline) ->
        kill(Port),
        log(Run#{log_level => warning}, "installer killed: the venv timeout passed", []),
        {error, {timeout, tail_text(Tail)}}
    end.

remaining(infinity) -> infinity;
remaining(Deadline) -> max(0, Deadline - erlang:monotonic_time(millisecond)).

keep(Line, {Lines, N}) when N < ?TAIL_LINES -> {[Line | Lines], N + 1};
keep(Line, {Lines, N}) -> {[Line | lists:droplast(Lines)], N}.

tail_text({Lines, _}) ->
    iolist_to_binary(lists:join(<<"\n">>, lists:reverse(Lines))).

%% Closing the port does not stop the program: pip would go on installing.
kill(Port) ->
    case erlang:port_info(Port, os_pid) of
        {os_pid, OsPid} ->
            catch port_close(Port),
            case os:find_executable("kill") of
                false -> ok;
                Kill ->
                    K = open_port({spawn_executable, Kill},
                                  [{args, ["-TERM", integer_to_list(OsPid)]}, exit_status, hide]),
                    receive {K, {exit_status, _}} -> ok after 5000 -> ok end
            end;
        undefined ->
            ok
    end.

log(#{log_level := none}, _Format, _Args) ->
    ok;
log(#{log_level := Level}, Format, Args) ->
    %% No `domain': OTP's default handler drops events of domains other
    %% than its own, and these lines are meant to be seen.
    logger:log(Level, "py_venv: " ++ Format, Args, #{erlang_python => venv}).
