%% Arrays as one binary (issue 17, first part): `{tensor, Type, Shape,
%% Binary}' terms into Python as numpy arrays, and numpy results back as
%% tensor terms when a call asks with `arrays => tensor'. The conversion
%% itself is tested in crates/py-convert/tests/tensor.rs.
-module(py_tensor_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(PY_BOTH_MODES, <<>>).
-define(PY_OWN_INIT_PER_TESTCASE, true).
-include("py_suite.hrl").

-define(NUMPY_SETUP, <<"import numpy as np\n"
                       "def arange(n, dtype, shape):\n"
                       "    return np.arange(n, dtype=dtype).reshape(shape)\n"
                       "def describe(a):\n"
                       "    return (type(a).__name__, str(a.dtype), list(a.shape), a.tobytes(), a.flags.writeable)\n"
                       "def strided():\n"
                       "    return np.arange(12, dtype=np.int16).reshape(3, 4)[:, ::2]\n"
                       "def fortran():\n"
                       "    return np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))\n"
                       "def same(a):\n"
                       "    return a\n"
                       "def nested():\n"
                       "    return {'emb': np.ones(3, dtype=np.float32), 'n': 1}\n">>).

%% numpy cannot be loaded in sub-interpreters: the numpy cases run in
%% worker contexts; buffers without numpy (array.array, memoryview) run in
%% both modes.
all() ->
    [{group, worker}, {group, owngil}].

groups() ->
    Numpy = [default_stays_lists, results_as_tensors, tensors_into_numpy, bad_tensor_terms, bad_option],
    Both = [buffers_without_numpy, marked_by_python],
    [{worker, [], Numpy ++ Both}, {owngil, [], Both}].

%% The setup runs in the calling process's namespace (py:call/5 with
%% '__main__' looks there).
init_per_testcase(Case, Config) ->
    Config1 = py_test_groups:context_for_case(Config, <<>>),
    Ctx = ?config(ctx, Config1),
    ok = case Case of
             buffers_without_numpy -> ok;
             marked_by_python -> ok;
             _ -> py:exec(Ctx, ?NUMPY_SETUP)
         end,
    Config1.

f32(Floats) -> << <<F:32/float-little>> || F <- Floats >>.

%% Without the option nothing changes.
default_stays_lists(Config) ->
    Ctx = ?config(ctx, Config),
    ?assertEqual({ok, [[0.0, 1.0], [2.0, 3.0]]}, py:call(Ctx, '__main__', arange, [4, <<"float32">>, [2, 2]])),
    ?assertEqual({ok, [[0.0, 1.0], [2.0, 3.0]]}, py:call(Ctx, '__main__', arange, [4, <<"float32">>, [2, 2]], #{})).

results_as_tensors(Config) ->
    Ctx = ?config(ctx, Config),
    T = #{arrays => tensor},
    ?assertEqual({ok, {tensor, {f, 32}, {2, 2}, f32([0.0, 1.0, 2.0, 3.0])}},
                 py:call(Ctx, '__main__', arange, [4, <<"float32">>, [2, 2]], T)),
    ?assertEqual({ok, {tensor, {s, 64}, {3}, <<0:64/little, 1:64/little, 2:64/little>>}},
                 py:call(Ctx, '__main__', arange, [3, <<"int64">>, [3]], T)),
    ?assertEqual({ok, {tensor, {u, 8}, {0, 2}, <<>>}}, py:call(Ctx, '__main__', arange, [0, <<"uint8">>, [0, 2]], T)),
    %% Non-contiguous and Fortran-order arrays come back in row-major order.
    ?assertEqual({ok, {tensor, {s, 16}, {3, 2}, << <<V:16/little>> || V <- [0, 2, 4, 6, 8, 10] >>}},
                 py:call(Ctx, '__main__', strided, [], T)),
    ?assertEqual({ok, {tensor, {f, 64}, {2, 3}, << <<V:64/float-little>> || V <- [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] >>}},
                 py:call(Ctx, '__main__', fortran, [], T)),
    %% Arrays inside other values too.
    ?assertEqual({ok, #{<<"emb">> => {tensor, {f, 32}, {3}, f32([1.0, 1.0, 1.0])}, <<"n">> => 1}},
                 py:call(Ctx, '__main__', nested, [], T)).

tensors_into_numpy(Config) ->
    Ctx = ?config(ctx, Config),
    Data = f32([1.5, -0.0, 3.25, 4.0, 5.0, 6.0]),
    ?assertEqual({ok, {<<"ndarray">>, <<"float32">>, [2, 3], Data, false}},
                 py:call(Ctx, '__main__', describe, [{tensor, {f, 32}, {2, 3}, Data}])),
    %% A sub-binary of a larger binary.
    <<_:3/binary, Sub:8/binary, _/binary>> = <<"abc", 1, 2, 3, 4, 5, 6, 7, 8, "tail">>,
    ?assertEqual({ok, {<<"ndarray">>, <<"uint16">>, [2, 2], Sub, false}},
                 py:call(Ctx, '__main__', describe, [{tensor, {u, 16}, {2, 2}, Sub}])),
    %% A round trip is bit-exact, also for NaN payloads and -0.0.
    Odd = <<0, 0, 192, 127, 1, 0, 192, 255, 0, 0, 0, 128>>,
    ?assertEqual({ok, {tensor, {f, 32}, {3}, Odd}},
                 py:call(Ctx, '__main__', same, [{tensor, {f, 32}, {3}, Odd}], #{arrays => tensor})),
    Ints = <<-128, 127, 0, 1>>,
    ?assertEqual({ok, {tensor, {s, 8}, {2, 2}, Ints}},
                 py:call(Ctx, '__main__', same, [{tensor, {s, 8}, {2, 2}, Ints}], #{arrays => tensor})),
    %% An array kept by Python outlives the process that sent it.
    ok = py:exec(Ctx, <<"kept = []\ndef keep(a):\n    kept.append(a)\n">>),
    Self = self(),
    Env = py:get_local_env(Ctx),
    spawn_link(fun() -> Self ! {kept, py_context:call(Ctx, '__main__', keep, [{tensor, {s, 8}, {2}, <<-1, 7>>}], #{}, infinity, Env)} end),
    receive {kept, R} -> ?assertEqual({ok, none}, R) end,
    erlang:garbage_collect(),
    ?assertEqual({ok, [-1, 7]}, py:eval(Ctx, <<"kept[0].tolist()">>)).

%% Malformed tensor terms are errors, never crashes; look-alikes stay tuples.
bad_tensor_terms(Config) ->
    Ctx = ?config(ctx, Config),
    [?assertMatch({error, _}, py:call(Ctx, '__main__', describe, [Bad]))
     || Bad <- [{tensor, {f, 32}, {3}, <<0:64>>},
                {tensor, {f, 32}, {-1}, <<>>},
                {tensor, {f, 32}, {16#FFFFFFFF, 16#FFFFFFFF, 16#FFFF}, <<0:32>>},
                {tensor, {u, 8}, {1.5}, <<1>>}]],
    ?assertEqual({ok, {<<"tensor">>, {<<"q">>, 7}, {1}, <<1>>}},
                 py:call(Ctx, builtins, tuple, [{tensor, {q, 7}, {1}, <<1>>}])).

%% array.array and memoryview results become tensors; a tensor argument
%% becomes a read-only memoryview where numpy cannot be imported.
buffers_without_numpy(Config) ->
    Ctx = ?config(ctx, Config),
    ok = py:exec(Ctx, <<"import array, sys\n"
                        "def arr():\n"
                        "    return array.array('i', [1, -2, 3])\n"
                        "def view():\n"
                        "    return memoryview(array.array('d', [0.5, 1.5, 2.5, 3.5])).cast('B').cast('d', [2, 2])\n"
                        "def seen(a):\n"
                        "    m = memoryview(a)\n"
                        "    return (m.format, list(m.shape), m.tobytes(), m.readonly)\n">>),
    T = #{arrays => tensor},
    ?assertEqual({ok, {tensor, {s, 32}, {3}, <<1:32/little, -2:32/little-signed, 3:32/little>>}},
                 py:call(Ctx, '__main__', arr, [], T)),
    ?assertEqual({ok, {tensor, {f, 64}, {2, 2}, << <<V:64/float-little>> || V <- [0.5, 1.5, 2.5, 3.5] >>}},
                 py:call(Ctx, '__main__', view, [], T)),
    %% Without the option an array.array stays an object handle.
    {ok, Handle} = py:call(Ctx, '__main__', arr, [], #{}),
    ?assert(py:is_ref(Handle)),
    case ?config(mode, Config) of
        owngil ->
            ?assertEqual({ok, {<<"f">>, [2], f32([1.0, 2.0]), true}},
                         py:call(Ctx, '__main__', seen, [{tensor, {f, 32}, {2}, f32([1.0, 2.0])}]));
        worker ->
            ok
    end.

%% Python decides: erlang.tensor(array) crosses as a tensor term in any
%% value, with or without the call option, also through erlang.send.
marked_by_python(Config) ->
    Ctx = ?config(ctx, Config),
    ok = py:exec(Ctx, <<"import array, erlang\n"
                        "def marked():\n"
                        "    return {'v': erlang.tensor(array.array('h', [1, -1])), 'plain': array.array('h', [2]).tolist()}\n"
                        "def objects():\n"
                        "    return erlang.tensor([1, 2])\n"
                        "def send_it(pid):\n"
                        "    erlang.send(pid, ('t', erlang.tensor(memoryview(bytes([1, 2, 3])))))\n">>),
    Expected = #{<<"v">> => {tensor, {s, 16}, {2}, <<1:16/little, -1:16/little-signed>>}, <<"plain">> => [2]},
    ?assertEqual({ok, Expected}, py:call(Ctx, '__main__', marked, [])),
    ?assertEqual({ok, Expected}, py:call(Ctx, '__main__', marked, [], #{arrays => tensor})),
    %% Something with no tensor form converts as it would unmarked.
    ?assertEqual({ok, [1, 2]}, py:call(Ctx, '__main__', objects, [])),
    ?assertEqual({ok, true}, py:eval(Ctx, <<"isinstance(erlang.tensor(b'x'), erlang.Tensor)">>)),
    {ok, none} = py:call(Ctx, '__main__', send_it, [self()]),
    receive {<<"t">>, T} -> ?assertEqual({tensor, {u, 8}, {3}, <<1, 2, 3>>}, T) end.

bad_option(Config) ->
    Ctx = ?config(ctx, Config),
    ?assertEqual({error, {bad_argument, arrays}},
                 py:call(Ctx, '__main__', arange, [1, <<"float32">>, [1]], #{arrays => matrix})).
