%% Environments: registered imports and paths in every interpreter (live
%% and later), preload, virtual environments (a real one from PyPI, and a
%% .pth editable install), reload, dup_fd, and settings checked at start.
-module(py_import_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

all() ->
    [{group, worker}, {group, owngil}, registry_calls, ensure_venv_with_a_package_from_pypi,
     activate_venv_refuses_another_python,
     dup_fd, bad_settings_stop_the_start].

groups() ->
    py_test_groups:both_modes([imports_and_paths_everywhere, preload_is_the_template, pth_editable_install,
                               reload_picks_up_edits]).

init_per_suite(Config) ->
    Config1 = py_test_groups:init_suite(Config),
    Dir = filename:join(?config(priv_dir, Config1), "modules"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    [{modules, Dir} | Config1].

end_per_suite(Config) ->
    ok = py_import:clear_imports(),
    ok = py_import:clear_paths(),
    ok = py_preload:clear_code(),
    py_test_groups:end_suite(Config).

init_per_group(Mode, Config) -> py_test_groups:init_group(Mode, Config).

end_per_group(_, _Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    py_test_groups:context_for_case(Config, <<>>).

end_per_testcase(_Case, Config) ->
    ok = py_preload:clear_code(),
    py_test_groups:stop_case_context(Config).

eval(Ctx, Code) ->
    py_context:eval(Ctx, Code).

%% A module file `Name.py' in a directory of its own, with `Source'.
module(Config, Name, Source) ->
    Dir = filename:join(?config(modules, Config), atom_to_list(?config(mode, Config)) ++ "_" ++ Name),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ok = file:write_file(filename:join(Dir, Name ++ ".py"), Source),
    list_to_binary(Dir).

%%% ---------------------------------------------------------------------

imports_and_paths_everywhere(Config) ->
    Ctx = ?config(ctx, Config),
    Mod = "envmod_" ++ atom_to_list(?config(mode, Config)),
    Dir = module(Config, Mod, <<"def answer():\n    return 42\n">>),
    ok = py:add_path(Dir),
    ModBin = list_to_binary(Mod),
    ok = py:import(ModBin, answer),
    Check = <<"(__import__('sys').path[0], '", ModBin/binary, "' in __import__('sys').modules)">>,
    %% In the context that existed before, in the default pool, and in one
    %% started afterwards (of each mode).
    ?assertEqual({ok, {Dir, true}}, eval(Ctx, Check)),
    ?assertEqual({ok, {Dir, true}}, py:eval(Check)),
    {ok, Later} = py_context:new(#{mode => ?config(mode, Config)}),
    ?assertEqual({ok, {Dir, true}}, eval(Later, Check)),
    py_context:stop(Later),
    ?assert(py_import:is_imported(ModBin)),
    ?assert(py_import:is_imported(ModBin, <<"answer">>)),
    ?assert(py_import:is_path_added(Dir)),
    %% An import that cannot be done is refused and not registered.
    ?assertMatch({error, {'ModuleNotFoundError', _}}, py:import(no_such_module_anywhere)),
    ?assertNot(py_import:is_imported(no_such_module_anywhere)),
    ?assertMatch({error, {'AttributeError', _}}, py:import(ModBin, no_such_function)),
    ?assertEqual({error, main_not_cacheable}, py_import:ensure_imported('__main__')).

preload_is_the_template(Config) ->
    ok = py_preload:set_code(<<"PRELOADED = {'model': 'ready'}\ndef helper(x):\n    return x + 1\n">>),
    ?assert(py_preload:has_preload()),
    {ok, Ctx} = py_context:new(#{mode => ?config(mode, Config), preload => <<"OWN = helper(1)">>}),
    %% Every process-local namespace of that context starts from it.
    Self = self(),
    [spawn_link(fun() ->
                        {ok, Env} = py_context:local_env(Ctx),
                        Self ! {seen, py_context:eval(Ctx, <<"(PRELOADED['model'], helper(OWN))">>, #{}, 10000, Env)}
                end) || _ <- [1, 2]],
    [receive {seen, S} -> ?assertEqual({ok, {<<"ready">>, 3}}, S) end || _ <- [1, 2]],
    ?assertEqual({ok, 2}, eval(Ctx, <<"OWN">>)),
    %% A namespace's own changes stay its own.
    {ok, Env1} = py_context:local_env(Ctx),
    ok = py_context:exec(Ctx, <<"PRELOADED = 'replaced here'">>, Env1),
    spawn_link(fun() ->
                       {ok, Env2} = py_context:local_env(Ctx),
                       Self ! {seen, py_context:eval(Ctx, <<"PRELOADED['model']">>, #{}, 10000, Env2)}
               end),
    receive {seen, S2} -> ?assertEqual({ok, <<"ready">>}, S2) end,
    py_context:stop(Ctx),
    ok = py_preload:clear_code(),
    ?assertEqual(undefined, py_preload:get_code()).

pth_editable_install(Config) ->
    Ctx = ?config(ctx, Config),
    Venv = filename:join(?config(priv_dir, Config), "fake_venv_" ++ atom_to_list(?config(mode, Config))),
    %% lib/pythonX.Y of the running Python, as a real venv has.
    {ok, PyDir} = py:eval(<<"'python%d.%d' % __import__('sys').version_info[:2]">>),
    SitePackages = filename:join([Venv, "lib", binary_to_list(PyDir), "site-packages"]),
    Source = filename:join(Venv, "src"),
    ok = filelib:ensure_dir(filename:join(SitePackages, "x")),
    ok = filelib:ensure_dir(filename:join(Source, "x")),
    ok = file:write_file(filename:join(Venv, "pyvenv.cfg"), <<"home = /usr/bin\n">>),
    ok = file:write_file(filename:join(Source, "editable_pkg.py"), <<"WHERE = 'editable'\n">>),
    ok = file:write_file(filename:join(SitePackages, "editable.pth"), [Source, "\n"]),
    {ok, Before} = eval(Ctx, <<"list(__import__('sys').path)">>),
    ok = py:activate_venv(Venv),
    ?assertEqual({ok, <<"editable">>}, eval(Ctx, <<"__import__('editable_pkg').WHERE">>)),
    {ok, #{<<"active">> := true, <<"venv_path">> := VenvPath}} = py:venv_info(),
    ?assertEqual(list_to_binary(Venv), VenvPath),
    ok = py:deactivate_venv(),
    ?assertEqual({ok, Before}, eval(Ctx, <<"list(__import__('sys').path)">>)),
    ?assertEqual({ok, #{<<"active">> => false}}, py:venv_info()).

reload_picks_up_edits(Config) ->
    Ctx = ?config(ctx, Config),
    Mod = "reloaded_" ++ atom_to_list(?config(mode, Config)),
    Dir = module(Config, Mod, <<"VERSION = 1\n">>),
    ok = py:add_path(Dir),
    ModBin = list_to_binary(Mod),
    Get = <<"__import__('", ModBin/binary, "').VERSION">>,
    ?assertEqual({ok, 1}, eval(Ctx, Get)),
    ok = file:write_file(filename:join(Dir, Mod ++ ".py"), <<"VERSION = 2\n">>),
    %% Python checks source timestamps at whole-second granularity on some
    %% file systems: invalidate caches explicitly by reloading by content.
    ok = py:reload(ModBin),
    ?assertEqual({ok, 2}, eval(Ctx, Get)),
    %% A module nobody imported: nothing to do.
    ok = py:reload(<<"never_imported_module_x">>).

%%% ---------------------------------------------------------------------

registry_calls(_Config) ->
    ok = py_import:clear_imports(),
    ok = py_import:clear_paths(),
    ok = py:import(json),
    ok = py:add_import(json, dumps),
    ?assertEqual([{<<"json">>, all}, {<<"json">>, <<"dumps">>}], py_import:all_imports()),
    ?assertEqual({ok, #{<<"json">> => [<<"dumps">>]}}, py_import:import_list()),
    ok = py_import:add_paths(["/tmp/a_path", <<"/tmp/b_path">>]),
    ?assertEqual([<<"/tmp/a_path">>, <<"/tmp/b_path">>], py_import:all_paths()),
    ?assertEqual({ok, [<<"/tmp/a_path">>, <<"/tmp/b_path">>]}, py:eval(<<"__import__('sys').path[:2]">>)),
    ok = py_import:clear_imports(),
    ok = py_import:clear_paths(),
    ?assertEqual([], py_import:all_imports()),
    ?assertEqual([], py_import:all_paths()),
    ?assertMatch({error, {invalid_import, _}}, py:import({bad}, x)).

ensure_venv_with_a_package_from_pypi(Config) ->
    Venv = filename:join(?config(priv_dir, Config), "venv_six"),
    Req = filename:join(?config(priv_dir, Config), "requirements.txt"),
    ok = file:write_file(Req, <<"six\n">>),
    ?assertMatch({error, {no_such_file, _}}, py:ensure_venv(Venv, "/no/such/requirements.txt")),
    ?assertMatch({error, {executable_not_found, _}},
                 py:ensure_venv(filename:join(?config(priv_dir, Config), "venv_x"), Req,
                                [{installer, pip}, {python, "/no/such/python3"}])),
    ?assertEqual({error, {bad_option, {timeout, -1}}}, py:ensure_venv(Venv, Req, [{timeout, -1}])),
    ?assertEqual({error, {bad_option, colour}}, py:ensure_venv(Venv, Req, [colour])),
    %% Past the timeout the tool is killed and the call returns.
    ?assertMatch({error, {timeout, _}},
                 py:ensure_venv(filename:join(?config(priv_dir, Config), "venv_slow"), Req,
                                [{installer, pip}, {timeout, 1}])),
    {ok, Before} = py:eval(<<"list(__import__('sys').path)">>),
    %% An own-GIL interpreter alive before gets it too.
    Own = case py:subinterp_supported() of
              true -> {ok, C} = py_context:new(#{mode => owngil}), C;
              false -> undefined
          end,
    OwnBefore = [py_context:eval(Own, <<"list(__import__('sys').path)">>) || Own =/= undefined],
    case py:ensure_venv(Venv, Req, [{installer, pip}]) of
        ok ->
            ?assertMatch({ok, <<"1.", _/binary>>}, py:eval(<<"__import__('six').__version__">>)),
            [?assertMatch({ok, <<"1.", _/binary>>}, py_context:eval(Own, <<"__import__('six').__version__">>))
             || Own =/= undefined],
            {ok, #{<<"active">> := true, <<"site_packages">> := SP}} = py:venv_info(),
            {ok, SixFile} = py:eval(<<"__import__('six').__file__">>),
            ?assertEqual(SP, binary:part(SixFile, 0, byte_size(SP))),
            %% Running it again installs again (no-op), keeps it active,
            %% and the installer's lines reach logger as they come.
            Lines = with_venv_log(fun() -> ok = py:ensure_venv(Venv, Req, [{installer, pip}]) end),
            ?assert(lists:any(fun(L) -> string:find(L, "six") =/= nomatch end, Lines)),
            %% A path added after the activation survives contexts that
            %% start later (each activates the venv in its interpreter).
            Added = filename:join(?config(priv_dir, Config), "added_after_venv"),
            ok = filelib:ensure_dir(filename:join(Added, "x")),
            ok = py:add_path(Added),
            {ok, Later} = py_context:new(#{mode => worker}),
            HasAdded = <<"__import__('sys').path.count(p)">>,
            ?assertEqual({ok, 1}, py:eval(HasAdded, #{p => list_to_binary(Added)})),
            ok = py_context:stop(Later),
            ok = py:deactivate_venv(),
            ?assertEqual({ok, 1}, py:eval(HasAdded, #{p => list_to_binary(Added)})),
            ok = py_import:clear_paths(),
            ?assertEqual({ok, Before}, py:eval(<<"[p for p in __import__('sys').path if p != added]">>,
                                                 #{added => list_to_binary(Added)})),
            ?assertEqual(OwnBefore, [py_context:eval(Own, <<"[p for p in __import__('sys').path if p != added]">>,
                                                     #{added => list_to_binary(Added)})
                                     || Own =/= undefined]);
        {error, {exit_code, _, Output}} = Error ->
            %% Without network access to PyPI there is nothing more to test.
            case binary:match(Output, [<<"Could not find a version">>, <<"NewConnectionError">>,
                                      <<"Temporary failure in name resolution">>]) of
                nomatch -> ct:fail(Error);
                _ -> {skip, no_network}
            end
    end.

%% A venv made by another Python version (its compiled extensions would not
%% load) is refused, naming the versions; a directory with no site-packages
%% at all is `no_site_packages_found'.
activate_venv_refuses_another_python(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "venv_other_python"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    {ok, Before} = py:eval(<<"list(__import__('sys').path)">>),
    ?assertEqual({error, {invalid_venv, no_site_packages_found}}, py:activate_venv(Dir)),
    ok = filelib:ensure_dir(filename:join([Dir, "lib", "python3.0", "site-packages", "x"])),
    {ok, Mine} = py:eval(<<"'python%d.%d' % __import__('sys').version_info[:2]">>),
    ?assertEqual({error, {invalid_venv, <<"virtual environment ", (list_to_binary(Dir))/binary,
                                          " is for python3.0, not ", Mine/binary>>}},
                 py:activate_venv(Dir)),
    ?assertEqual({ok, Before}, py:eval(<<"list(__import__('sys').path)">>)),
    ?assertMatch({ok, #{<<"active">> := false}}, py:venv_info()).

%% Runs Fun with a logger handler that collects the py_venv log lines.
with_venv_log(Fun) ->
    Self = self(),
    Id = py_venv_test_handler,
    %% test.config keeps the primary level at warning; the lines are info.
    #{level := Primary} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, info),
    ok = logger:add_handler(Id, ?MODULE, #{config => #{pid => Self}}),
    try
        Fun()
    after
        logger:remove_handler(Id),
        logger:set_primary_config(level, Primary)
    end,
    drain_log([]).

drain_log(Acc) ->
    receive
        {venv_log, Line} -> drain_log([Line | Acc])
    after 0 -> lists:reverse(Acc)
    end.

%% The logger handler callback of with_venv_log/1.
log(#{msg := {Format, Args}, meta := #{erlang_python := venv}}, #{config := #{pid := Pid}}) when is_list(Format) ->
    Pid ! {venv_log, lists:flatten(io_lib:format(Format, Args))};
log(_Event, _Config) ->
    ok.

dup_fd(_Config) ->
    {ok, Fd} = py:dup_fd(0),
    ?assert(Fd > 2),
    ?assertEqual({ok, none}, py:eval(<<"__import__('os').close(fd)">>, #{fd => Fd})),
    ?assertEqual({error, ebadf}, py:dup_fd(999999)),
    ?assertEqual({error, {invalid_fd, -1}}, py:dup_fd(-1)).

bad_settings_stop_the_start(_Config) ->
    ok = application:stop(erlang_python),
    try
        [begin
             Saved = application:get_env(erlang_python, Key),
             ok = application:set_env(erlang_python, Key, Bad),
             Result = application:start(erlang_python),
             case Saved of
                 {ok, V} -> ok = application:set_env(erlang_python, Key, V);
                 undefined -> ok = application:unset_env(erlang_python, Key)
             end,
             ?assertMatch({error, {{invalid_setting, Key, Bad, _}, _}}, Result)
         end || {Key, Bad} <- [{context_mode, threads}, {max_depth, 0}, {paths, [42]},
                               {imports, [{json}]}, {malloc_tuning, maybe}]]
    after
        {ok, _} = application:ensure_all_started(erlang_python)
    end.
