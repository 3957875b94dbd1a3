%% Drop-in compatibility with the C library (erlang_python 4.x): code
%% written against its documented API runs unchanged. One case per
%% behaviour of issue 14 that used to differ; cases where the context
%% mode matters run in a worker and an own-GIL context.
-module(py_compat_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(PY_BOTH_MODES, <<>>).
-include("py_suite.hrl").

all() ->
    [eval_locals_are_not_globals, venv_without_pyvenv_cfg, loop_handles_are_references,
     pool_stats_in_owngil_mode, nif_ref_is_bare, c_library_nif_functions, c_library_exports,
     no_op_setup_functions, run_async_and_process_env, apply_preload, stream_kwargs_identifiers,
     settings_made_before_load_survive, router_rebinds_after_pool_restart,
     {group, worker}, {group, owngil}].

groups() ->
    py_test_groups:both_modes(
      [namespaces_per_process_and_context, preload_template_per_context, interp_ids_unique,
       eval_follows_scheduling_markers, atoms_are_interned, asyncio_run_uses_our_loop,
       submit_reports_function_not_found, stop_interrupts_worker_loop,
       interrupt_right_after_start_loop, loops_close_what_they_served]).

%%% ---------------------------------------------------------------------
%%% Namespaces and contexts
%%% ---------------------------------------------------------------------

%% Item 1: the process-bound namespace is per (process, context), also for
%% two contexts of the same interpreter.
namespaces_per_process_and_context(Config) ->
    C1 = ?config(ctx, Config),
    {ok, C2} = py_context:new(#{mode => ?config(mode, Config)}),
    ok = py:exec(C1, <<"x = 1">>),
    ?assertEqual({ok, 1}, py:eval(C1, <<"x">>)),
    ?assertMatch({error, {'NameError', _}}, py:eval(C2, <<"x">>)),
    Env1 = py:get_local_env(C1),
    Env2 = py:get_local_env(C2),
    ?assertNotEqual(Env1, Env2),
    %% Another process has its own namespace on C1.
    Self = self(),
    spawn_link(fun() -> Self ! {other, py:eval(C1, <<"x">>)} end),
    receive {other, Other} -> ?assertMatch({error, {'NameError', _}}, Other) end,
    ok = py_context:stop(C2).

%% Item 1: a new namespace starts from its own context's preload, even
%% for a process that used a context with an older preload.
preload_template_per_context(Config) ->
    Mode = ?config(mode, Config),
    ok = py_preload:set_code(<<"preloaded = 'yes'">>),
    {ok, Old} = py_context:new(#{mode => Mode}),
    ok = py_preload:clear_code(),
    ?assertEqual({ok, <<"yes">>}, py:eval(Old, <<"preloaded">>)),
    {ok, New} = py_context:new(#{mode => Mode}),
    ?assertMatch({error, {'NameError', _}}, py:eval(New, <<"preloaded">>)),
    ok = py_context:stop(Old),
    ok = py_context:stop(New).

%% Item 2: get_interp_id/1 is a counter unique per context.
interp_ids_unique(Config) ->
    Mode = ?config(mode, Config),
    Ctxs = [?config(ctx, Config) | [element(2, {ok, _} = py_context:new(#{mode => Mode})) || _ <- [1, 2]]],
    Ids = [element(2, {ok, _} = py_context:get_interp_id(C)) || C <- Ctxs],
    ?assertEqual(3, length(lists:usort(Ids))),
    [?assertEqual(Mode =:= owngil, py_context:is_subinterp(C)) || C <- Ctxs],
    [ok = py_context:stop(C) || C <- tl(Ctxs)].

%%% ---------------------------------------------------------------------
%%% eval
%%% ---------------------------------------------------------------------

%% Item 3: globals() is the caller's namespace (writes persist); the
%% Locals are a separate mapping that is not kept.
eval_locals_are_not_globals(_Config) ->
    ?assertEqual({ok, none}, py:eval(<<"(globals().__setitem__('k', v), None)[-1]">>, #{v => 5})),
    ?assertEqual({ok, 5}, py:eval(<<"k">>)),
    ?assertMatch({error, {'NameError', _}}, py:eval(<<"v">>)),
    ?assertEqual({ok, 7}, py:eval(<<"k + v">>, #{v => 2})),
    ?assertEqual({ok, [0, 10, 20]}, py:eval(<<"[i * y for i in range(3)]">>, #{y => 10})).

%% Item 4: scheduling markers returned by an expression are carried out
%% as for py:call. `schedule_py' runs as py:call/4 from the caller (so a
%% `'__main__'' function resolves in its namespace on the default pool).
eval_follows_scheduling_markers(Config) ->
    Ctx = ?config(ctx, Config),
    ok = py:register_function(compat_add, fun([A, B]) -> A + B end),
    Defs = <<"import erlang\n"
             "def double(x):\n"
             "    return x * 2\n"
             "def hop(n):\n"
             "    if n == 0:\n"
             "        return erlang.schedule_py('__main__', 'double', [21])\n"
             "    return erlang.schedule_inline('__main__', 'hop', args=[n - 1])\n"
             "def count(n):\n"
             "    return n if n == 0 else erlang.schedule_inline('__main__', 'count', args=[n - 1])\n">>,
    ok = py:exec(Ctx, Defs),
    ok = py:exec(Defs),
    ?assertEqual({ok, 3}, py:eval(Ctx, <<"erlang.schedule('compat_add', 1, 2)">>)),
    ?assertEqual({ok, 2.0}, py:eval(Ctx, <<"erlang.schedule_py('math', 'sqrt', [4.0])">>)),
    ?assertEqual({ok, 0}, py:eval(Ctx, <<"erlang.schedule_inline('__main__', 'count', args=[5])">>)),
    ?assertEqual({ok, 0}, py_context:eval(Ctx, <<"erlang.schedule_inline('__main__', 'count', args=[5])">>,
                                          #{}, 5000, py:get_local_env(Ctx))),
    ?assertEqual({ok, 10}, py:eval(<<"erlang.schedule_py('__main__', 'double', [5])">>)),
    %% A chain that switches to schedule_py.
    ?assertEqual({ok, 42}, py:eval(<<"erlang.schedule_inline('__main__', 'hop', args=[3])">>)),
    ?assertEqual({ok, 42}, py:eval(Ctx, <<"erlang.schedule_inline('__main__', 'hop', args=[3])">>)),
    ?assertMatch({error, {'NameError', _}}, py:eval(Ctx, <<"erlang.schedule_inline('__main__', 'nope', [])">>)),
    ?assertMatch({error, {'NameError', _}}, py:eval(<<"erlang.schedule_py('__main__', 'nope', [])">>)),
    ok = py:unregister_function(compat_add).

%%% ---------------------------------------------------------------------
%%% Virtual environments
%%% ---------------------------------------------------------------------

%% Item 5: no pyvenv.cfg needed; Lib/site-packages first, then
%% lib/pythonX.Y/site-packages.
venv_without_pyvenv_cfg(Config) ->
    {ok, Mine} = py:eval(<<"'python%d.%d' % __import__('sys').version_info[:2]">>),
    Unix = filename:join(?config(priv_dir, Config), "venv_unix"),
    UnixSite = filename:join([Unix, "lib", Mine, "site-packages"]),
    ok = filelib:ensure_dir(filename:join(UnixSite, "x")),
    ok = file:write_file(filename:join(UnixSite, "compat_unix_mod.py"), <<"where = 'unix'\n">>),
    ok = py:activate_venv(Unix),
    ?assertEqual({ok, <<"unix">>}, py:eval(<<"__import__('compat_unix_mod').where">>)),
    ok = py:deactivate_venv(),
    Flat = filename:join(?config(priv_dir, Config), "venv_flat"),
    FlatSite = filename:join([Flat, "Lib", "site-packages"]),
    ok = filelib:ensure_dir(filename:join(FlatSite, "x")),
    ok = file:write_file(filename:join(FlatSite, "compat_flat_mod.py"), <<"where = 'flat'\n">>),
    ok = py:activate_venv(Flat),
    ?assertEqual({ok, <<"flat">>}, py:eval(<<"__import__('compat_flat_mod').where">>)),
    ok = py:deactivate_venv(),
    Empty = filename:join(?config(priv_dir, Config), "venv_empty"),
    ok = filelib:ensure_dir(filename:join(Empty, "x")),
    ?assertEqual({error, {invalid_venv, no_site_packages_found}}, py:activate_venv(Empty)).

%%% ---------------------------------------------------------------------
%%% Event loops
%%% ---------------------------------------------------------------------

%% Item 7: loops are named by references, accepted wherever a loop is.
loop_handles_are_references(_Config) ->
    {ok, Main} = py_event_loop:get_loop(),
    {ok, Pooled} = py_event_loop_pool:get_loop(),
    ?assert(is_reference(Main)),
    ?assert(is_reference(Pooled)),
    ?assertEqual({ok, 2.0}, py_event_loop:run(Main, math, sqrt, [4.0], #{})),
    ?assertEqual({ok, 3.0}, py_event_loop:await(py_event_loop:create_task(Pooled, math, sqrt, [9.0], #{}))),
    ok = py_event_loop:exec(Main, <<"on_main = 1">>),
    ?assertEqual({ok, 1}, py_event_loop:eval(Main, <<"on_main">>)),
    ok = py_event_loop_pool:exec(Pooled, <<"on_pool = 2">>),
    ?assertEqual({ok, 2}, py_event_loop_pool:eval(Pooled, <<"on_pool">>)),
    {ok, All} = py_event_loop_pool:get_all_loops(),
    [?assert(is_reference(R) andalso is_pid(P)) || {R, P} <- All],
    ?assert(lists:keymember(Pooled, 1, All)),
    {ok, Ctx} = py_context:new(#{}),
    ok = py_context:start_loop(Ctx),
    {ok, LoopRef} = py_context:loop_ref(Ctx),
    ?assert(is_reference(LoopRef)),
    ?assertEqual({ok, 5.0}, py_event_loop:run(LoopRef, math, sqrt, [25.0], #{})),
    ok = py_context:stop_loop(Ctx),
    receive {py_loop_exit, Ctx, _} -> ok end,
    ok = py_context:stop(Ctx),
    {ok, Own} = py_event_loop:new(#{}),
    ?assert(is_reference(Own)),
    ?assertEqual({ok, 6.0}, py_event_loop:run(Own, math, sqrt, [36.0], #{})),
    ok = py_event_loop:stop(Own),
    ?assertEqual({error, loop_not_running}, py_event_loop:run(Own, math, sqrt, [1.0], #{})).

%% Item 7: in own-GIL mode the pool reports its sessions.
pool_stats_in_owngil_mode(_Config) ->
    case py:subinterp_supported() of
        false ->
            {skip, no_subinterpreters};
        true ->
            ok = supervisor:terminate_child(erlang_python_sup, py_event_loop_pool),
            ok = application:set_env(erlang_python, event_loop_pool_owngil, true),
            try
                {ok, _} = supervisor:restart_child(erlang_python_sup, py_event_loop_pool),
                ?assertMatch(#{owngil_enabled := true}, py_event_loop_pool:get_stats()),
                Self = self(),
                Users = [spawn_link(fun() ->
                                            {ok, _} = py_event_loop_pool:run(math, sqrt, [4.0]),
                                            Self ! {used, self()},
                                            receive stop -> ok end
                                    end) || _ <- [1, 2, 3]],
                [receive {used, U} -> ok end || U <- Users],
                #{active_sessions := Active, pool_stats := PerLoop} = py_event_loop_pool:get_stats(),
                ?assert(Active >= 3),
                ?assertEqual(Active, lists:sum([N || #{sessions := N} <- PerLoop])),
                Sessions = py_event_loop_pool:get_all_sessions(),
                [?assert(lists:keymember(U, 1, Sessions)) || U <- Users],
                [begin M = monitor(process, U), U ! stop, receive {'DOWN', M, _, _, _} -> ok end end
                 || U <- Users],
                %% A session ends with its process.
                Left = py_event_loop_pool:get_all_sessions(),
                [?assertNot(lists:keymember(U, 1, Left)) || U <- Users]
            after
                ok = supervisor:terminate_child(erlang_python_sup, py_event_loop_pool),
                ok = application:unset_env(erlang_python, event_loop_pool_owngil),
                {ok, _} = supervisor:restart_child(erlang_python_sup, py_event_loop_pool)
            end
    end.

%% Item 10: the C library's task submission, on a loop and on the pool.
run_async_and_process_env(_Config) ->
    {ok, Loop} = py_event_loop:get_loop(),
    Ref = make_ref(),
    ok = py_event_loop:run_async(Loop, #{ref => Ref, caller => self(), module => builtins,
                                         func => pow, args => [2], kwargs => #{exp => 5}}),
    receive {async_result, Ref, R1} -> ?assertEqual({ok, 32}, R1) end,
    %% The result goes to `caller', not to the submitter.
    Self = self(),
    Ref2 = make_ref(),
    spawn_link(fun() -> ok = py_event_loop:run_async(Loop, #{ref => Ref2, caller => Self, module => math,
                                                             func => sqrt, args => [16.0]}) end),
    receive {async_result, Ref2, R2} -> ?assertEqual({ok, 4.0}, R2) end,
    Ref3 = make_ref(),
    ok = py_event_loop_pool:run_async(#{ref => Ref3, caller => self(), module => math, func => sqrt, args => [1.0]}),
    receive {async_result, Ref3, R3} -> ?assertEqual({ok, 1.0}, R3) end,
    %% No namespace on the main loop yet, then one.
    spawn_link(fun() ->
                       Before = py_event_loop:get_process_env(),
                       ok = py_event_loop:exec(<<"mine = 1">>),
                       Self ! {env, Before, py_event_loop:get_process_env()}
               end),
    receive {env, Before, After} ->
            ?assertEqual(undefined, Before),
            ?assert(is_reference(After))
    end.

%%% ---------------------------------------------------------------------
%%% py_nif functions the C docs show
%%% ---------------------------------------------------------------------

%% Item 8.
nif_ref_is_bare(_Config) ->
    {ok, Ctx} = py_context:new(#{}),
    Ref = py_context:get_nif_ref(Ctx),
    ?assert(is_reference(Ref)),
    ok = py_context:stop(Ctx),
    ?assertError({context_died, noproc}, py_context:get_nif_ref(Ctx)).

%% Item 9.
c_library_nif_functions(_Config) ->
    {ok, Ctx} = py_context:new(#{}),
    Ref = py_context:get_nif_ref(Ctx),
    {ok, E1} = py_context:create_local_env(Ctx),
    {ok, E2} = py_context:create_local_env(Ctx),
    ok = py_nif:context_exec(Ref, <<"def f(x):\n    return x + 1\nname = 'one'">>, E1),
    ?assertEqual({ok, 2}, py_nif:context_call(Ref, '__main__', f, [1], #{}, E1)),
    ?assertEqual({ok, 3}, py_nif:context_eval(Ref, <<"f(a)">>, #{a => 2}, E1)),
    ?assertEqual({ok, 16}, py_nif:context_call(Ref, builtins, pow, [2], #{exp => 4}, E1)),
    %% Two envs are isolated.
    ?assertMatch({error, {'NameError', _}}, py_nif:context_eval(Ref, <<"name">>, #{}, E2)),
    ?assertMatch({error, {'NameError', _}}, py_nif:context_call(Ref, '__main__', f, [1], #{}, E2)),
    ?assertMatch({error, {'SyntaxError', _}}, py_nif:context_exec(Ref, <<"def">>, E1)),
    {ok, Loop} = py_nif:event_loop_new(),
    ?assert(is_reference(Loop)),
    ok = py_nif:event_loop_exec(Loop, <<"import asyncio\nz = 3">>),
    ?assertEqual({ok, 3}, py_nif:event_loop_eval(Loop, <<"z">>)),
    ok = py_event_loop:stop(Loop),
    ?assert(lists:member(py_nif:execution_mode(), [gil, free_threaded])),
    ok = py_context:stop(Ctx),
    ?assertEqual({error, {context_died, noproc}}, py_nif:context_exec(Ref, <<"1">>, E1)).

%% Item 10: every function the C library's public modules export exists.
c_library_exports(_Config) ->
    Missing = [{M, F, A} || {M, Fs} <- c_library_exports(), {F, A} <- Fs,
                            not erlang:function_exported(load(M), F, A)],
    ?assertEqual([], Missing).

load(M) ->
    {module, M} = code:ensure_loaded(M),
    M.

c_library_exports() ->
    [{py, [{call, 3}, {call, 4}, {call, 5}, {eval, 1}, {eval, 2}, {eval, 3}, {exec, 1}, {exec, 2},
           {cast, 3}, {cast, 4}, {cast, 5}, {spawn_call, 3}, {spawn_call, 4}, {spawn_call, 5},
           {await, 1}, {await, 2}, {async_call, 3}, {async_call, 4}, {async_await, 1},
           {async_await, 2}, {async_gather, 1}, {async_gather, 2}, {stream, 3}, {stream, 4},
           {stream_eval, 1}, {stream_eval, 2}, {stream_start, 3}, {stream_start, 4},
           {stream_cancel, 1}, {register_function, 2}, {register_function, 3},
           {unregister_function, 1}, {version, 0}, {execution_mode, 0}, {subinterp_supported, 0},
           {memory_stats, 0}, {gc, 0}, {gc, 1}, {tracemalloc_start, 0}, {tracemalloc_start, 1},
           {tracemalloc_stop, 0}, {parallel, 1}, {ensure_venv, 2}, {ensure_venv, 3},
           {activate_venv, 1}, {deactivate_venv, 0}, {venv_info, 0}, {state_fetch, 1},
           {state_store, 2}, {state_remove, 1}, {state_keys, 0}, {state_clear, 0}, {state_incr, 1},
           {state_incr, 2}, {state_decr, 1}, {state_decr, 2}, {reload, 1}, {configure_logging, 0},
           {configure_logging, 1}, {enable_tracing, 0}, {disable_tracing, 0}, {clear_traces, 0},
           {get_traces, 0}, {context, 0}, {context, 1}, {start_contexts, 0}, {start_contexts, 1},
           {stop_contexts, 0}, {contexts_started, 0}, {interrupt, 1}, {get_local_env, 1},
           {call_method, 3}, {getattr, 2}, {to_term, 1}, {is_ref, 1}, {dup_fd, 1},
           {register_pool, 2}, {unregister_pool, 1}, {shared_dict_new, 0}, {shared_dict_get, 2},
           {shared_dict_get, 3}, {shared_dict_set, 3}, {shared_dict_del, 2}, {shared_dict_keys, 1},
           {shared_dict_destroy, 1}, {import, 1}, {import, 2}, {add_import, 1}, {add_import, 2},
           {add_path, 1}]},
     {py_context, [{new, 1}, {start_link, 2}, {start_link, 3}, {stop, 1}, {destroy, 1}, {call, 4},
                   {call, 5}, {call, 6}, {call, 7}, {eval, 2}, {eval, 3}, {eval, 4}, {eval, 5},
                   {exec, 2}, {exec, 3}, {call_method, 4}, {to_term, 1}, {get_interp_id, 1},
                   {is_subinterp, 1}, {create_local_env, 1}, {get_nif_ref, 1}, {interrupt, 1},
                   {start_loop, 1}, {start_loop, 2}, {stop_loop, 1}, {stop_loop, 2}, {loop_ref, 1},
                   {submit, 4}, {submit, 5}, {submit_await, 4}, {submit_await, 5}, {submit_await, 6},
                   {extend_erlang_module_in_context, 1}]},
     {py_context_router, [{start, 0}, {start, 1}, {stop, 0}, {is_started, 0}, {get_context, 0},
                          {get_context, 1}, {bind_context, 1}, {bind_context, 2}, {unbind_context, 0},
                          {unbind_context, 1}, {num_contexts, 0}, {num_contexts, 1}, {contexts, 0},
                          {contexts, 1}, {start_pool, 2}, {start_pool, 3}, {stop_pool, 1},
                          {pool_started, 1}, {register_pool, 2}, {register_pool, 3},
                          {unregister_pool, 1}, {unregister_pool, 2}, {lookup_pool, 2},
                          {list_pool_registrations, 0}, {init_pool_registry, 0}]},
     {py_channel, [{new, 0}, {new, 1}, {send, 2}, {close, 1}, {info, 1}, {register_callbacks, 0},
                   {handle_receive, 1}, {handle_try_receive, 1}, {handle_wait, 1},
                   {handle_cancel_wait, 1}, {handle_info, 1}]},
     {py_byte_channel, [{new, 0}, {new, 1}, {send, 2}, {try_receive, 1}, {recv, 1}, {recv, 2},
                        {close, 1}, {info, 1}, {register_callbacks, 0}]},
     {py_buffer, [{new, 0}, {new, 1}, {write, 2}, {close, 1}]},
     {py_event_loop, [{run, 3}, {run, 4}, {create_task, 3}, {create_task, 4}, {await, 1}, {await, 2},
                      {spawn_task, 3}, {spawn_task, 4}, {exec, 1}, {exec, 2}, {eval, 1}, {eval, 2},
                      {get_loop, 0}, {run_async, 2}, {start_link, 0}, {stop, 0},
                      {register_callbacks, 0}, {get_process_env, 0}]},
     {py_event_loop_pool, [{start_link, 0}, {start_link, 1}, {stop, 0}, {get_loop, 0}, {get_stats, 0},
                           {create_task, 3}, {create_task, 4}, {run, 3}, {run, 4}, {spawn_task, 3},
                           {spawn_task, 4}, {await, 1}, {await, 2}, {exec, 1}, {exec, 2}, {eval, 1},
                           {eval, 2}, {get_all_loops, 0}, {get_all_sessions, 0},
                           {is_owngil_enabled, 0}, {run_async, 1}]},
     {py_reactor_context, [{start_link, 2}, {start_link, 3}, {stop, 1}, {stats, 1}, {handoff, 2},
                           {handoff, 3}]},
     {py_state, [{fetch, 1}, {store, 2}, {remove, 1}, {keys, 0}, {clear, 0}, {incr, 1}, {incr, 2},
                 {decr, 1}, {decr, 2}, {init_tab, 0}, {register_callbacks, 0}]},
     {py_import, [{ensure_imported, 1}, {ensure_imported, 2}, {is_imported, 1}, {is_imported, 2},
                  {all_imports, 0}, {import_list, 0}, {clear_imports, 0}, {add_path, 1},
                  {add_paths, 1}, {all_paths, 0}, {clear_paths, 0}, {is_path_added, 1}, {init, 0}]},
     {py_preload, [{set_code, 1}, {get_code, 0}, {clear_code, 0}, {has_preload, 0},
                   {apply_preload, 1}]},
     {py_callback, [{register, 2}, {unregister, 1}, {lookup, 1}, {execute, 2},
                    {register_callbacks, 0}, {init_tab, 0}]},
     {py_nif, [{context_exec, 3}, {context_eval, 4}, {context_call, 6}, {event_loop_new, 0},
               {event_loop_exec, 2}, {event_loop_eval, 2}, {execution_mode, 0}]}].

%% Item 10: the C library's boot-time helpers are harmless no-ops here.
no_op_setup_functions(_Config) ->
    [?assertEqual(ok, F()) || F <- [fun py_channel:register_callbacks/0,
                                    fun py_byte_channel:register_callbacks/0,
                                    fun py_event_loop:register_callbacks/0,
                                    fun py_callback:register_callbacks/0,
                                    fun py_callback:init_tab/0,
                                    fun py_context_router:init_pool_registry/0,
                                    fun py_import:init/0]],
    ?assertEqual(ok, py_context:extend_erlang_module_in_context(py:context())),
    %% Everything still works after them.
    ?assertEqual({ok, 2.0}, py:call(math, sqrt, [4.0])),
    {ok, Ch} = py_channel:new(),
    ?assertMatch(#{closed := false}, py_channel:handle_info([Ch])).

%% Item 10: apply_preload/1 runs the preload code in one context now.
apply_preload(_Config) ->
    {ok, Ctx} = py_context:new(#{}),
    ok = py_preload:set_code(<<"applied = 41 + 1">>),
    try
        ?assertMatch({error, {'NameError', _}}, py:eval(Ctx, <<"applied">>)),
        ok = py_preload:apply_preload(py_context:get_nif_ref(Ctx)),
        %% The template changed: a process's new namespace has it.
        Self = self(),
        spawn_link(fun() -> Self ! {applied, py:eval(Ctx, <<"applied">>)} end),
        receive {applied, R} -> ?assertEqual({ok, 42}, R) end
    after
        ok = py_preload:clear_code()
    end,
    ?assertEqual(ok, py_preload:apply_preload(Ctx)),
    ok = py_context:stop(Ctx).

%%% ---------------------------------------------------------------------
%%% erlang module, asyncio
%%% ---------------------------------------------------------------------

%% Item 11: one Atom object per name and interpreter.
atoms_are_interned(Config) ->
    Ctx = ?config(ctx, Config),
    ok = py:exec(Ctx, <<"import erlang">>),
    ?assertEqual({ok, true}, py:eval(Ctx, <<"erlang.atom('compat_interned') is erlang.atom('compat_interned')">>)),
    ?assertEqual({ok, true}, py:eval(Ctx, <<"all(erlang.atom('compat_many') is erlang.atom('compat_many') "
                                            "for _ in range(100000))">>)),
    ?assertEqual({ok, compat_interned}, py:eval(Ctx, <<"erlang.atom('compat_interned')">>)).

%% Item 12: asyncio.run in user code runs on our loop, and the context
%% keeps serving calls meanwhile.
asyncio_run_uses_our_loop(Config) ->
    Ctx = ?config(ctx, Config),
    {ok, Minor} = py:eval(Ctx, <<"__import__('sys').version_info[1]">>),
    case Minor >= 14 of
        true ->
            {skip, policies_deprecated};
        false ->
            ok = py_context:exec(Ctx, <<"import asyncio\n"
                                        "released = False\n"
                                        "async def wait_release():\n"
                                        "    while not released:\n"
                                        "        await asyncio.sleep(0.001)\n"
                                        "    return type(asyncio.get_running_loop()).__name__\n">>),
            Self = self(),
            spawn_link(fun() ->
                               Self ! {ran, py_context:eval(Ctx, <<"asyncio.run(wait_release())">>, #{}, 30000)}
                       end),
            %% Served while asyncio.run runs (else the run never ends).
            ok = py_context:exec(Ctx, <<"released = True">>),
            receive {ran, R} -> ?assertEqual({ok, <<"ErlangEventLoop">>}, R) end
    end.

%%% ---------------------------------------------------------------------
%%% Worker loops
%%% ---------------------------------------------------------------------

%% Item 14.
submit_reports_function_not_found(Config) ->
    Ctx = ?config(ctx, Config),
    ?assertEqual({error, function_not_found}, py_context:submit_await(Ctx, no_such_module_here, f, [])),
    ?assertEqual({error, function_not_found}, py_context:submit_await(Ctx, math, no_such_function, [])),
    ?assertMatch({error, {'ValueError', _}}, py_context:submit_await(Ctx, math, sqrt, [-1.0])),
    ?assertEqual({ok, 2.0}, py_context:submit_await(Ctx, math, sqrt, [4.0])),
    ok = py_context:start_loop(Ctx),
    ?assertEqual({error, function_not_found}, py_context:submit_await(Ctx, math, nope, [])),
    ok = py_context:stop_loop(Ctx),
    receive {py_loop_exit, Ctx, _} -> ok end.

%% Item 16: stopping a context whose worker loop runs interrupts the loop.
stop_interrupts_worker_loop(Config) ->
    {ok, Ctx} = py_context:new(#{mode => ?config(mode, Config)}),
    ok = py_context:start_loop(Ctx),
    ok = py_context:stop(Ctx),
    receive {py_loop_exit, Ctx, Result} -> ?assertEqual({error, interrupted}, Result) end.

%% Item 16: once start_loop/1 has returned, interrupt/1 reaches the loop.
interrupt_right_after_start_loop(Config) ->
    Mode = ?config(mode, Config),
    lists:foreach(fun(_) ->
                          {ok, Ctx} = py_context:new(#{mode => Mode}),
                          ok = py_context:start_loop(Ctx),
                          ?assertEqual(ok, py_context:interrupt(Ctx)),
                          receive {py_loop_exit, Ctx, R} -> ?assertEqual({error, interrupted}, R) end,
                          ok = py_context:stop(Ctx)
                  end, lists:seq(1, 8)).

%% Item 16: a worker loop that ends closes every descriptor it created or
%% adopted (its self-pipe, served listening sockets, accepted connections),
%% even ones the application still references.
loops_close_what_they_served(Config) ->
    Mode = ?config(mode, Config),
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}, {reuseaddr, true}]),
    {ok, Port} = inet:port(L),
    {ok, LFd} = inet:getfd(L),
    Serve = fun() ->
                    {ok, W} = py_context:new(#{mode => Mode}),
                    ok = py_context:start_loop(W),
                    ok = py_context:exec(W, <<"import asyncio, erlang.server as server\n"
                                             "class Quiet(asyncio.Protocol):\n"
                                             "    def connection_made(self, t):\n"
                                             "        self.t = t\n"
                                             "        t.write(b'hello')\n"
                                             "kept = []\n"
                                             "async def start(fd):\n"
                                             "    kept.append(await server.serve(fd, Quiet))\n">>),
                    {ok, none} = py_context:submit_await(W, '__main__', start, [LFd], #{}, 10000),
                    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
                    %% Accepted and greeted: the connection is open on the loop.
                    {ok, <<"hello">>} = gen_tcp:recv(C, 5, 10000),
                    ok = py_context:stop_loop(W),
                    receive {py_loop_exit, W, _} -> ok end,
                    %% The loop closed the connection it accepted.
                    {error, closed} = gen_tcp:recv(C, 0, 10000),
                    ok = gen_tcp:close(C),
                    ok = py_context:stop(W)
            end,
    Serve(),
    Before = open_descriptors(),
    [Serve() || _ <- lists:seq(1, 4)],
    ?assertEqual(Before, open_descriptors()),
    ok = gen_tcp:close(L).

open_descriptors() ->
    {ok, Fds} = file:list_dir("/proc/self/fd"),
    length(Fds).

%%% ---------------------------------------------------------------------
%%% Streams
%%% ---------------------------------------------------------------------

%% Item 13.
stream_kwargs_identifiers(_Config) ->
    ?assertError({invalid_python_identifier, <<"x y">>}, py:stream(builtins, <<"x y">>, [], #{a => 1})),
    ?assertError({invalid_python_identifier, <<"1st">>}, py:stream(<<"os.1st">>, f, [], #{a => 1})),
    ?assertError({invalid_python_identifier, <<"bad-key">>},
                 py:stream(builtins, range, [3], #{'bad-key' => 1})),
    ?assertEqual({ok, [0, 1, 2]}, py:stream(builtins, range, [3], #{})),
    ok = py:exec(<<"def gen(n, step=1):\n    yield from range(0, n, step)\n">>),
    ?assertEqual({ok, [0, 2, 4]}, py:stream('__main__', gen, [6], #{step => 2})).

%%% ---------------------------------------------------------------------
%%% Application and pools
%%% ---------------------------------------------------------------------

%% Item 16: settings made before the application loads are kept.
settings_made_before_load_survive(_Config) ->
    ok = application:stop(erlang_python),
    ok = application:unload(erlang_python),
    try
        ok = application:set_env(erlang_python, max_depth, 123),
        ok = application:set_env(erlang_python, log_level, warning),
        ok = application:load(erlang_python),
        ?assertEqual({ok, 123}, application:get_env(erlang_python, max_depth)),
        ?assertEqual({ok, warning}, application:get_env(erlang_python, log_level)),
        %% Unset settings take their defaults in code.
        ?assertEqual(undefined, application:get_env(erlang_python, context_mode))
    after
        application:unset_env(erlang_python, max_depth),
        application:unset_env(erlang_python, log_level),
        {ok, _} = application:ensure_all_started(erlang_python)
    end,
    ?assertEqual({ok, 2.0}, py:call(math, sqrt, [4.0])).

%% Item 16: a process bound to a context of a pool that was stopped and
%% started again gets a live context.
router_rebinds_after_pool_restart(_Config) ->
    Old = py_context_router:get_context(),
    ?assertEqual({ok, 2.0}, py:call(math, sqrt, [4.0])),
    ok = py_context_router:stop(),
    {ok, _} = py_context_router:start(),
    New = py_context_router:get_context(),
    ?assertNotEqual(Old, New),
    ?assert(is_process_alive(New)),
    ?assert(lists:member(New, py_context_router:contexts())),
    ?assertEqual({ok, 3.0}, py:call(math, sqrt, [9.0])).
