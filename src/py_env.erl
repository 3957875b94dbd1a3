%% @private What every interpreter must have: registered paths, the active
%% virtual environment, registered imports, and preload code, applied to
%% each context as it starts. (Changes reach the live interpreters through
%% py_call:each_interpreter/2.)
-module(py_env).

-export([setup_context/2]).

%% How long one interpreter may take to apply a change.
-define(APPLY_TIMEOUT, 60000).

%% @doc Brings a new context up to date (called from its init, once it is
%% registered): paths, the virtual environment, imports, then the global
%% and the context's own preload code. Failures are logged, not fatal.
-spec setup_context(pid(), map()) -> ok.
setup_context(Ctx, Opts) ->
    Steps = [{erlang, '_env_add_paths', [py_import:all_paths()]} || py_import:all_paths() =/= []]
        ++ [{erlang, '_venv_activate', [Venv]} || Venv <- [py_import:active_venv()], Venv =/= undefined]
        ++ [{erlang, '_env_import', [[[M, none_if_all(F)] || {M, F} <- py_import:all_imports()]]}
            || py_import:all_imports() =/= []]
        %% As the C library does at start (Python < 3.14): asyncio.run in
        %% user code runs on an ErlangEventLoop.
        ++ [{'_erlang_loop', '_install_default_policy', []}]
        ++ [{erlang, '_env_preload', [Code]} || Code <- [preload(Opts)], Code =/= undefined],
    lists:foreach(fun({Module, Function, Args}) ->
                          case py_call:context_call(Ctx, Module, Function, Args, #{}, ?APPLY_TIMEOUT) of
                              {ok, _} -> ok;
                              {error, Reason} ->
                                  logger:warning("erlang_python: context setup ~s failed: ~0tp",
                                                 [Function, Reason], #{domain => [erlang_python]})
                          end
                  end, Steps).

none_if_all(all) -> none;
none_if_all(F) -> F.

%% The global preload followed by the context's own.
preload(Opts) ->
    case {py_preload:get_code(), maps:get(preload, Opts, undefined)} of
        {undefined, undefined} -> undefined;
        {Global, undefined} -> Global;
        {undefined, Own} -> iolist_to_binary(Own);
        {Global, Own} -> iolist_to_binary([Global, "\n", Own])
    end.
