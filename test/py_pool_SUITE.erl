%% Pools and routing: the default pool, sticky routing, binding, named pools,
%% registrations, replacement of dead contexts.
-module(py_pool_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-include("py_suite.hrl").

all() ->
    [default_pool, sticky_routing, binding, nth_context, named_pools, pool_call_forms,
     owngil_pool, registrations, registrations_by_function, start_stop_default,
     dead_context_replaced].

default_pool(_) ->
    {ok, N} = application:get_env(erlang_python, num_contexts),
    ?assertEqual(N, py_context_router:num_contexts()),
    ?assertEqual(N, length(py_context_router:contexts())),
    ?assert(py:contexts_started()),
    ?assert(py_context_router:is_started()),
    [?assert(is_process_alive(C)) || C <- py_context_router:contexts()].

sticky_routing(_) ->
    C = py:context(),
    ?assertEqual(C, py:context()),
    ?assertEqual(C, py_context_router:get_context()),
    ?assert(lists:member(C, py_context_router:contexts())),
    %% Calls run there: same OS thread as the context's.
    {ok, #{thread_id := Tid}} = py_context:info(C),
    ?assertEqual({ok, Tid}, py:call(threading, get_native_id, [])).

binding(_) ->
    [A, B | _] = py_context_router:contexts(),
    ok = py_context_router:bind_context(B),
    ?assertEqual(B, py:context()),
    ok = py_context_router:bind_context(A),
    ?assertEqual(A, py:context()),
    ok = py_context_router:unbind_context(),
    ?assert(lists:member(py:context(), [A, B])).

nth_context(_) ->
    Ctxs = py_context_router:contexts(),
    [?assertEqual(lists:nth(I, Ctxs), py:context(I)) || I <- lists:seq(1, length(Ctxs))].

named_pools(_) ->
    ?assertNot(py_context_router:pool_started(io)),
    {ok, Pids} = py_context_router:start_pool(io, 3),
    ?assertEqual(3, length(Pids)),
    ?assertEqual({ok, Pids}, py_context_router:start_pool(io, 3)),
    ?assert(py_context_router:pool_started(io)),
    ?assertEqual(3, py_context_router:num_contexts(io)),
    ?assert(lists:member(py_context_router:get_context(io), Pids)),
    ok = py_context_router:stop_pool(io),
    ?assertNot(py_context_router:pool_started(io)),
    [?assertNot(is_process_alive(P)) || P <- Pids],
    ?assertMatch({error, _}, py_context_router:start_pool(bad, 0)).

pool_call_forms(_) ->
    {ok, _} = py_context_router:start_pool(calc, 2),
    ?assertEqual({ok, 3.0}, py:call(calc, math, sqrt, [9.0])),
    ?assertEqual({ok, 16}, py:call(calc, builtins, int, [<<"10">>], #{base => 16})),
    ok = py_context_router:stop_pool(calc).

owngil_pool(_) ->
    case py:subinterp_supported() of
        false -> {skip, no_subinterpreters};
        true ->
            {ok, Pids} = py_context_router:start_pool(sub, 2, owngil),
            Ids = [element(2, py_context:get_interp_id(P)) || P <- Pids],
            ?assertEqual(2, length(lists:usort(Ids))),
            [?assert(I > 0) || I <- Ids],
            ?assertEqual({ok, 3.0}, py:call(sub, math, sqrt, [9.0])),
            ok = py_context_router:stop_pool(sub)
    end.

registrations(_) ->
    {ok, _} = py_context_router:start_pool(json_pool, 1),
    [JsonCtx] = py_context_router:contexts(json_pool),
    {ok, #{thread_id := JsonTid}} = py_context:info(JsonCtx),
    ok = py:register_pool(json_pool, json),
    ?assertEqual(json_pool, py_context_router:lookup_pool(json, dumps)),
    ?assertEqual(json_pool, py_context_router:lookup_pool(<<"json">>, <<"dumps">>)),
    ?assertEqual(default, py_context_router:lookup_pool(math, sqrt)),
    ?assertEqual(default, py_context_router:lookup_pool(<<"never_seen_module_xyz">>, f)),
    %% Calls to json run on the pool's context thread.
    Self = self(),
    spawn_link(fun() -> Self ! {json, py:call(json, dumps, [1]),
                                py:call(threading, get_native_id, [])} end),
    receive {json, R1, _} -> ?assertEqual({ok, <<"1">>}, R1) end,
    ?assertEqual([{{json, '_'}, json_pool}], py_context_router:list_pool_registrations()),
    ok = py:unregister_pool(json),
    ?assertEqual(default, py_context_router:lookup_pool(json, dumps)),
    ?assert(is_integer(JsonTid)),
    ok = py_context_router:stop_pool(json_pool).

registrations_by_function(_) ->
    {ok, [P]} = py_context_router:start_pool(special, 1),
    {ok, #{thread_id := Tid}} = py_context:info(P),
    ok = py_context_router:register_pool(special, threading, get_native_id),
    ?assertEqual(special, py_context_router:lookup_pool(threading, get_native_id)),
    ?assertEqual(default, py_context_router:lookup_pool(threading, active_count)),
    ?assertEqual({ok, Tid}, py:call(threading, get_native_id, [])),
    ok = py_context_router:unregister_pool(threading, get_native_id),
    ?assertEqual([], py_context_router:list_pool_registrations()),
    ok = py_context_router:stop_pool(special).

start_stop_default(_) ->
    Before = py_context_router:contexts(),
    ok = py:stop_contexts(),
    ?assertNot(py:contexts_started()),
    [?assertNot(is_process_alive(C)) || C <- Before],
    {ok, New} = py:start_contexts(#{contexts => 3}),
    ?assertEqual(3, length(New)),
    ?assert(py:contexts_started()),
    %% The caller's sticky binding pointed at a stopped context: it moves.
    ?assertEqual({ok, 2}, py:eval(<<"1+1">>)),
    ok = py:stop_contexts(),
    {ok, _} = py:start_contexts().

dead_context_replaced(_) ->
    N = py_context_router:num_contexts(),
    [Victim | _] = py_context_router:contexts(),
    MRef = erlang:monitor(process, Victim),
    exit(Victim, kill),
    receive {'DOWN', MRef, _, _, _} -> ok end,
    wait_replaced(Victim, 500),
    ?assertEqual(N, py_context_router:num_contexts()),
    ok = py_context_router:bind_context(Victim),
    ?assertEqual({ok, 2}, py:eval(<<"1+1">>)),
    ok = py_context_router:unbind_context().

wait_replaced(_Victim, 0) -> ct:fail(not_replaced);
wait_replaced(Victim, N) ->
    case lists:member(Victim, py_context_router:contexts()) of
        false -> ok;
        true -> receive after 10 -> wait_replaced(Victim, N - 1) end
    end.
