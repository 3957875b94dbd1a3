%% A native crash in Python code kills the VM (nothing in-process can
%% survive a segfault); what the library owes the user is a trace of where
%% it happened. These cases crash a separate VM on purpose and read what it
%% printed.
-module(py_crash_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0]).
-export([faulthandler_is_on_by_default/1, segfault_prints_python_traceback/1, segfault_in_owngil_context_prints_python_traceback/1, faulthandler_can_be_turned_off/1]).

-define(PY_OWN_END_PER_SUITE, true).
-include("py_suite.hrl").

all() ->
    [faulthandler_is_on_by_default, segfault_prints_python_traceback,
     segfault_in_owngil_context_prints_python_traceback, faulthandler_can_be_turned_off].

end_per_suite(_Config) ->
    ok.

%% The handler is process-wide (the module itself cannot be imported in
%% sub-interpreters); ask the main interpreter.
faulthandler_is_on_by_default(_Config) ->
    {ok, Ctx} = py_context:new(#{mode => worker}),
    try
        ?assertEqual({ok, true}, py:eval(Ctx, <<"__import__('faulthandler').is_enabled()">>))
    after
        py_context:stop(Ctx)
    end.

segfault_prints_python_traceback(_Config) ->
    unless_asan(fun() -> crashed_with_traceback(crash_vm(true, worker)) end).

segfault_in_owngil_context_prints_python_traceback(_Config) ->
    case py:subinterp_supported() andalso ctypes_in_subinterpreters() of
        true -> unless_asan(fun() -> crashed_with_traceback(crash_vm(true, owngil)) end);
        false -> {skip, "no ctypes in own-GIL sub-interpreters (Python 3.12) to crash with"}
    end.

ctypes_in_subinterpreters() ->
    {ok, Ctx} = py_context:new(#{mode => owngil}),
    try
        element(1, py:eval(Ctx, <<"__import__('ctypes') is not None">>)) =:= ok
    after
        py_context:stop(Ctx)
    end.

%% Under AddressSanitizer (scripts/test-asan.sh sets PY_TEST_ASAN) the
%% child VM's deliberate segfault is ASan's to report, before faulthandler
%% sees it, and would be taken for a finding.
unless_asan(Fun) ->
    case os:getenv("PY_TEST_ASAN") of
        "1" -> {skip, "a deliberate crash under AddressSanitizer"};
        _ -> Fun()
    end.

crashed_with_traceback({Status, Out}) ->
    ct:pal("exit status ~p, output:~n~ts", [Status, Out]),
    ?assertNotEqual(0, Status),
    ?assertNotEqual(nomatch, string:find(Out, "Fatal Python error: Segmentation fault")),
    %% The frame of the Python function that made the bad call.
    ?assertNotEqual(nomatch, string:find(Out, "in crash_here")).

faulthandler_can_be_turned_off(_Config) ->
    unless_asan(fun() ->
                        {Status, Out} = crash_vm(false, worker),
                        ?assertNotEqual(0, Status),
                        ?assertEqual(nomatch, string:find(Out, "Fatal Python error"))
                end).

%% Starts a VM with the application (faulthandler set to `On'), makes
%% Python dereference a null pointer in a context of mode `Mode' and
%% returns the VM's exit status and everything it wrote. Core dumps are off
%% for the child.
crash_vm(On, Mode) ->
    LibDir = filename:dirname(code:lib_dir(erlang_python)),
    Code = "def crash_here():\n"
           "    import ctypes\n"
           "    ctypes.string_at(0)\n"
           "crash_here()\n",
    Eval = lists:flatten(io_lib:format(
             "application:load(erlang_python), "
             "application:set_env(erlang_python, faulthandler, ~p), "
             "{ok, _} = application:ensure_all_started(erlang_python), "
             "{ok, Ctx} = py_context:new(#{mode => ~p}), "
             "py_context:exec(Ctx, ~p), halt(0).", [On, Mode, list_to_binary(Code)])),
    Erl = os:find_executable("erl"),
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", "ulimit -c 0; exec \"$0\" \"$@\"", Erl,
                              "-noshell", "-eval", Eval]},
                      {env, [{"ERL_LIBS", LibDir}]},
                      exit_status, stderr_to_stdout, binary]),
    collect(Port, []).

collect(Port, Acc) ->
    receive
        {Port, {data, Data}} -> collect(Port, [Acc, Data]);
        {Port, {exit_status, Status}} -> {Status, unicode:characters_to_list(iolist_to_binary(Acc))}
    after 60000 ->
        ct:fail({child_vm_hung, iolist_to_binary(Acc)})
    end.
