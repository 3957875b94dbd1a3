%% The Common Test callbacks most suites share, in one place. Include it
%% after `-module' (and any `-include_lib'):
%%
%%   -include("py_suite.hrl").                 the application for the suite
%%
%% With `-define(PY_BOTH_MODES, Setup).' before the include, the suite's
%% groups `worker' and `owngil' (py_test_groups:both_modes/1) also get a
%% fresh context of their mode per test case under `ctx', with the Python
%% code `Setup' run in it (`<<>>' for none). A suite that needs its own
%% callback defines `PY_OWN_<CALLBACK>' (e.g. `PY_OWN_INIT_PER_TESTCASE')
%% and writes it; the others stay these.

-export([init_per_suite/1, end_per_suite/1]).
-ifdef(PY_BOTH_MODES).
-export([init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).
-endif.

-ifndef(PY_OWN_INIT_PER_SUITE).
init_per_suite(Config) -> py_test_groups:init_suite(Config).
-endif.

-ifndef(PY_OWN_END_PER_SUITE).
end_per_suite(Config) -> py_test_groups:end_suite(Config).
-endif.

-ifdef(PY_BOTH_MODES).
init_per_group(Mode, Config) -> py_test_groups:init_group(Mode, Config).

end_per_group(_Group, _Config) -> ok.

-ifndef(PY_OWN_INIT_PER_TESTCASE).
init_per_testcase(_Case, Config) -> py_test_groups:context_for_case(Config, ?PY_BOTH_MODES).
-endif.

-ifndef(PY_OWN_END_PER_TESTCASE).
end_per_testcase(_Case, Config) -> py_test_groups:stop_case_context(Config).
-endif.
-endif.
