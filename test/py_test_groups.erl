%% Shared Common Test plumbing for suites that run their cases once in a
%% worker context and once in an owngil context: the application for the
%% suite, the `mode' of each group (owngil groups are skipped where this
%% build cannot make own-GIL sub-interpreters), and a fresh context of that
%% mode per test case under `ctx'.
-module(py_test_groups).
-include_lib("common_test/include/ct.hrl").

-export([both_modes/1, init_suite/1, end_suite/1, init_group/2, context_for_case/2,
         stop_case_context/1]).

%% The worker and owngil groups running `Cases'.
both_modes(Cases) ->
    [{worker, [], Cases}, {owngil, [], Cases}].

init_suite(Config) ->
    {ok, _} = application:ensure_all_started(erlang_python),
    Config.

end_suite(_Config) ->
    ok = application:stop(erlang_python).

init_group(owngil, Config) ->
    case py:subinterp_supported() of
        true -> [{mode, owngil} | Config];
        false -> {skip, no_subinterpreters}
    end;
init_group(Mode, Config) ->
    [{mode, Mode} | Config].

%% Inside a group: a new context of the group's mode, with `Setup' code run
%% in it (`<<>>' for none).
context_for_case(Config, Setup) ->
    case ?config(mode, Config) of
        undefined ->
            Config;
        Mode ->
            {ok, Ctx} = py_context:new(#{mode => Mode}),
            ok = case Setup of
                     <<>> -> ok;
                     _ -> py_context:exec(Ctx, Setup)
                 end,
            [{ctx, Ctx} | Config]
    end.

stop_case_context(Config) ->
    case ?config(ctx, Config) of
        undefined -> ok;
        Ctx -> py_context:stop(Ctx)
    end.
