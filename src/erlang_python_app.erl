%% @doc Application callback: starts Python (once per VM), then the
%% supervision tree with the default context pool.
-module(erlang_python_app).
-behaviour(application).

-export([start/2, stop/1]).

start(_Type, _Args) ->
    case py_config:validate() of
        ok ->
            %% The Python is found before the NIF loads, for a clear error.
            case py_python:prepare() of
                ok -> start_python();
                {error, Reason} -> {error, Reason}
            end;
        {error, Invalid} ->
            {error, Invalid}
    end.

start_python() ->
    case py_nif:init(nif_config()) of
        ok ->
            ok = py_semaphore:init(),
            ok = py_nif:visible_names_set(application:get_env(erlang_python, python_visible_names, all)),
            ok = py_nif:owngil_pool(application:get_env(erlang_python, owngil_pool_size, 4)),
            case application:get_env(erlang_python, preload_code) of
                {ok, Code} -> py_preload:set_code(Code);
                undefined -> ok
            end,
            erlang_python_sup:start_link();
        {error, Reason} -> {error, {python_start_failed, Reason}}
    end.

stop(_State) ->
    ok.

nif_config() ->
    Base = #{max_depth => application:get_env(erlang_python, max_depth, 200),
             allocator => application:get_env(erlang_python, python_allocator, auto),
             malloc_tuning => application:get_env(erlang_python, malloc_tuning, true),
             faulthandler => application:get_env(erlang_python, faulthandler, true)},
    %% sys.executable: the setting, else $ERLANG_PYTHON_EXECUTABLE, else
    %% the Python prepare/0 chose.
    case {application:get_env(erlang_python, python_executable),
          os:getenv("ERLANG_PYTHON_EXECUTABLE")} of
        {{ok, Exe}, _} ->
            Base#{executable => Exe};
        {undefined, Env} when is_list(Env), Env =/= "" ->
            Base#{executable => Env};
        {undefined, _} ->
            {ok, #{executable := Exe}} = py_python:chosen(),
            Base#{executable => Exe}
    end.
