%% @doc Virtual environments for every interpreter.
%%
%% `activate/1' adds the environment's site-packages in every live
%% interpreter (through `site.addsitedir', so `.pth' files and editable
%% installs work) ahead of everything else on `sys.path', after saving
%% `sys.path'; contexts started later activate it too. `deactivate/0'
%% restores the saved `sys.path' exactly. `ensure/3' creates and fills an
%% environment first; programs run by argv with `open_port/2', never
%% through a shell.
-module(py_venv).

-export([activate/1, deactivate/0, info/0, ensure/3]).

%% Longest a venv creation or an installation may take.
-define(INSTALL_TIMEOUT, 300000).

-spec activate(iodata()) -> ok | {error, term()}.
activate(Path) ->
    Abs = unicode:characters_to_binary(filename:absname(Path)),
    case py_env:each_interpreter('_venv_activate', [Abs]) of
        ok ->
            py_import:set_venv(Abs);
        {error, [{_Ctx, {'ValueError', Message}} | _]} ->
            {error, {invalid_venv, unicode:characters_to_binary(Message)}};
        {error, [{_Ctx, Reason} | _]} ->
            {error, Reason}
    end.

-spec deactivate() -> ok | {error, term()}.
deactivate() ->
    ok = py_import:set_venv(undefined),
    py_env:each_interpreter('_venv_deactivate', []).

-spec info() -> {ok, map()} | {error, term()}.
info() ->
    py:call(erlang, '_venv_info', []).

%% @doc Creates `Path' if it holds no `pyvenv.cfg' (or with `force'),
%% installs `ReqFile' (`*.toml': the project in its directory, editable,
%% with `{extras, [Name]}'; otherwise a requirements file) with `uv' when
%% it is on PATH, else pip (`{installer, uv | pip}' chooses), then
%% activates it. `{python, Exe}': the interpreter that creates it (default:
%% the one running here).
-spec ensure(iodata(), iodata(), list()) -> ok | {error, term()}.
ensure(Path0, ReqFile0, Opts) ->
    Path = filename:absname(unicode:characters_to_list(Path0)),
    ReqFile = filename:absname(unicode:characters_to_list(ReqFile0)),
    Installer = installer(Opts),
    Steps = [fun() -> create(Path, Installer, Opts) end,
             fun() -> install(Path, ReqFile, Installer, Opts) end,
             fun() -> activate(Path) end],
    case filelib:is_regular(ReqFile) of
        false -> {error, {no_such_file, unicode:characters_to_binary(ReqFile)}};
        true -> run_steps(Steps)
    end.

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

create(Path, Installer, Opts) ->
    Exists = filelib:is_regular(filename:join(Path, "pyvenv.cfg")),
    case Exists andalso not proplists:get_bool(force, Opts) of
        true ->
            ok;
        false ->
            Python = python(Opts),
            case Installer of
                uv -> run("uv", ["venv", "--python", Python, Path]);
                pip -> run(Python, ["-m", "venv", "--clear", Path])
            end
    end.

install(Path, ReqFile, Installer, Opts) ->
    VenvPython = filename:join([Path, "bin", "python"]),
    What = case filename:extension(ReqFile) of
               ".toml" -> ["-e", filename:dirname(ReqFile) ++ extras(Opts)];
               _ -> ["-r", ReqFile]
           end,
    case Installer of
        uv -> run("uv", ["pip", "install", "--python", VenvPython | What]);
        pip -> run(VenvPython, ["-m", "pip", "install", "--disable-pip-version-check" | What])
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

%% Runs `Exe Args' (no shell), collecting its output.
run(Exe, Args) ->
    case find(Exe) of
        false ->
            {error, {executable_not_found, unicode:characters_to_binary(Exe)}};
        Found ->
            Port = open_port({spawn_executable, Found},
                             [{args, Args}, exit_status, stderr_to_stdout, binary, use_stdio, hide]),
            collect(Port, [], erlang:monotonic_time(millisecond) + ?INSTALL_TIMEOUT)
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

collect(Port, Acc, Deadline) ->
    receive
        {Port, {data, Data}} ->
            collect(Port, [Data | Acc], Deadline);
        {Port, {exit_status, 0}} ->
            ok;
        {Port, {exit_status, Code}} ->
            {error, {exit_code, Code, iolist_to_binary(lists:reverse(Acc))}}
    after max(0, Deadline - erlang:monotonic_time(millisecond)) ->
        catch port_close(Port),
        {error, timeout}
    end.
