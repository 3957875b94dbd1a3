%% @doc Which Python runs inside the VM. It is chosen when the NIF loads,
%% not when it is built, so a release built on one machine runs on another
%% where the same Python version lives elsewhere.
%%
%% The Python is, in this order: the application setting `python', the OS
%% environment variable `ERLANG_PYTHON_PYTHON' (each naming a python
%% executable or a libpython shared library), else the Python the NIF was
%% built against (`priv/python.config'). The first of these that is set is
%% the one used: a configured Python that cannot be used is an error, not a
%% reason to fall back silently. Its major.minor version must be the one
%% the NIF was built for.
-module(py_python).

-export([locate/0, prepare/0, chosen/0, built/0, priv_dir/0]).

-define(ENV, "ERLANG_PYTHON_PYTHON").
%% How long a python executable may take to describe itself.
-define(INSPECT_TIMEOUT, 15000).

-type info() :: #{version := string(), executable := string(), libpython := string(),
                  source := atom()}.
-export_type([info/0]).

%% @doc The Python to load: `{ok, Info}' or `{error, {python_not_found,
%% Details}}' naming what was tried and why it did not do.
-spec locate() -> {ok, info()} | {error, term()}.
locate() ->
    case built() of
        {ok, Built} ->
            {Source, Candidate} = candidate(Built),
            Want = maps:get(version, Built),
            case inspect(Candidate) of
                {ok, #{version := Want} = Info} ->
                    {ok, Info#{source => Source}};
                {ok, #{version := Other}} ->
                    {error, {python_version_mismatch, #{built_for => Want, found => Other,
                                                      tried => {Source, Candidate}}}};
                {error, Why} ->
                    {error, {python_not_found, #{built_for => Want, tried => {Source, Candidate},
                                                 reason => Why}}}
            end;
        Error ->
            Error
    end.

%% @doc The Python prepare/0 chose, once it has.
-spec chosen() -> {ok, info()} | undefined.
chosen() ->
    case persistent_term:get({?MODULE, chosen}, undefined) of
        undefined -> undefined;
        Info -> {ok, Info}
    end.

%% @doc Locates the Python (see locate/0), opens its libpython (through
%% `py_nif_loader') and loads the NIF. The application calls it when it
%% starts; later calls return at once.
-spec prepare() -> ok | {error, term()}.
prepare() ->
    case persistent_term:get({?MODULE, chosen}, undefined) of
        undefined ->
            case locate() of
                {ok, #{libpython := Lib} = Info} ->
                    case open_libpython(Lib) of
                        ok ->
                            case py_nif:load() of
                                ok ->
                                    persistent_term:put({?MODULE, chosen}, Info),
                                    ok;
                                {error, Why} ->
                                    {error, {cannot_load_nif, Why}}
                            end;
                        Error ->
                            Error
                    end;
                Error ->
                    Error
            end;
        _ ->
            ok
    end.

open_libpython(Lib) ->
    case py_nif_loader:load() of
        ok ->
            case py_nif_loader:load_libpython(unicode:characters_to_binary(Lib)) of
                ok -> ok;
                {error, Why} -> {error, {cannot_load_libpython, Lib, Why}}
            end;
        {error, Why} ->
            {error, {cannot_load_nif, Why}}
    end.

%% @doc What the NIF was built against (`priv/python.config').
-spec built() -> {ok, map()} | {error, term()}.
built() ->
    File = filename:join(priv_dir(), "python.config"),
    case file:consult(File) of
        {ok, [Map]} when is_map(Map) -> {ok, Map};
        {ok, _} -> {error, {bad_build_info, File}};
        {error, Reason} -> {error, {no_build_info, File, Reason}}
    end.

candidate(Built) ->
    case {application:get_env(erlang_python, python), os:getenv(?ENV)} of
        {{ok, Path}, _} -> {application_setting, text(Path)};
        {undefined, Env} when is_list(Env), Env =/= "" -> {environment, Env};
        _ -> {build, maps:get(executable, Built)}
    end.

text(B) when is_binary(B) -> unicode:characters_to_list(B);
text(L) -> L.

%% A libpython file, or a python executable that describes itself.
inspect(Path) ->
    case {filelib:is_regular(Path), is_libpython(Path)} of
        {false, _} -> {error, {no_such_file, Path}};
        {true, true} -> from_library(Path);
        {true, false} -> ask(Path)
    end.

is_libpython(Path) ->
    lists:prefix("libpython", filename:basename(Path)).

%% libpython3.13.so.1.0 under PREFIX/lib (or PREFIX/lib/MULTIARCH): the
%% executable is PREFIX/bin/python3.13.
from_library(Path) ->
    case re:run(filename:basename(Path), "^libpython(\\d+\\.\\d+)", [{capture, all_but_first, list}]) of
        {match, [Version]} ->
            Lib = filename:dirname(Path),
            Prefixes = [filename:dirname(Lib), filename:dirname(filename:dirname(Lib))],
            Exes = [filename:join([P, "bin", "python" ++ Version]) || P <- Prefixes],
            case [E || E <- Exes, filelib:is_regular(E)] of
                [Exe | _] -> {ok, #{version => Version, executable => Exe, libpython => Path}};
                [] -> {error, {no_python_executable_near, Path, Exes}}
            end;
        nomatch ->
            {error, {not_a_libpython, Path}}
    end.

ask(Exe) ->
    Script = filename:join(priv_dir(), "python_info.py"),
    try open_port({spawn_executable, Exe}, [{args, [Script]}, exit_status, stderr_to_stdout, binary,
                                             {env, [{"PYTHONPATH", false}]}]) of
        Port -> collect(Port, Exe, <<>>)
    catch
        error:Reason -> {error, {cannot_run, Exe, Reason}}
    end.

collect(Port, Exe, Acc) ->
    receive
        {Port, {data, Data}} ->
            collect(Port, Exe, <<Acc/binary, Data/binary>>);
        {Port, {exit_status, 0}} ->
            parse(Exe, Acc);
        {Port, {exit_status, Status}} ->
            {error, {python_failed, Exe, Status, Acc}}
    after ?INSPECT_TIMEOUT ->
        catch port_close(Port),
        {error, {python_timeout, Exe}}
    end.

parse(Exe, Text) ->
    try
        {ok, Tokens, _} = erl_scan:string(unicode:characters_to_list(Text)),
        {ok, Term} = erl_parse:parse_term(Tokens),
        case Term of
            #{shared := false} -> {error, {no_shared_libpython, Exe}};
            #{libpython := Lib} = Info ->
                case filelib:is_regular(Lib) of
                    true -> {ok, maps:with([version, executable, libpython], Info)};
                    false -> {error, {no_such_file, Lib}}
                end
        end
    catch
        _:_ -> {error, {unexpected_answer, Exe, Text}}
    end.

%% @private The application's priv directory (also outside a release).
priv_dir() ->
    py_nif_loader:priv_dir().
