#!/usr/bin/env escript
%%! +S 2
%% Arrays across the boundary (issue 17), tensor terms beside the list path,
%% in one run on a worker context with numpy:
%%   a. a 1000 x 384 float32 matrix (a batch of embeddings), Python to
%%      Erlang (the array is made once and returned by each call);
%%   b. the same matrix, Erlang to Python (a call that takes it and
%%      returns its shape);
%%   c. one 384-float embedding, Python to Erlang, per py:call end to end;
%%   d. a 224 x 224 x 3 uint8 image, both ways.
%% Usage: escript benches/erlang/tensors.escript [EbinDir]
%% (run from the repository root after `make build' with numpy importable,
%% e.g. under scripts/test-env.sh; prints one line per figure, the median
%% of 5 runs, in microseconds per call).
-mode(compile).

main(Args) ->
    Ebin = case Args of
               [Dir] -> Dir;
               [] -> "_build/default/lib/erlang_python/ebin"
           end,
    true = code:add_patha(Ebin),
    {ok, _} = application:ensure_all_started(erlang_python),
    {ok, Ctx} = py_context:new(#{mode => worker}),
    ok = py:exec(Ctx, <<"import numpy as np\n"
                        "matrix = np.random.default_rng(1).random((1000, 384), dtype=np.float32)\n"
                        "vector = matrix[0].copy()\n"
                        "image = np.random.default_rng(2).integers(0, 256, (224, 224, 3), dtype=np.uint8)\n"
                        "def get(name):\n"
                        "    return globals()[name]\n"
                        "def shape(a):\n"
                        "    return np.asarray(a).shape\n">>),
    Tensor = #{arrays => tensor},
    {ok, MatrixT} = py:call(Ctx, '__main__', get, [matrix], Tensor),
    {ok, MatrixL} = py:call(Ctx, '__main__', get, [matrix], #{}),
    {ok, ImageT} = py:call(Ctx, '__main__', get, [image], Tensor),
    {ok, ImageL} = py:call(Ctx, '__main__', get, [image], #{}),
    Rows = [{"1000x384 f32, Python -> Erlang, tensor", 200,
             fun() -> {ok, _} = py:call(Ctx, '__main__', get, [matrix], Tensor) end},
            {"1000x384 f32, Python -> Erlang, lists", 5,
             fun() -> {ok, _} = py:call(Ctx, '__main__', get, [matrix], #{}) end},
            {"1000x384 f32, Erlang -> Python, tensor", 200,
             fun() -> {ok, _} = py:call(Ctx, '__main__', shape, [MatrixT]) end},
            {"1000x384 f32, Erlang -> Python, lists", 5,
             fun() -> {ok, _} = py:call(Ctx, '__main__', shape, [MatrixL]) end},
            {"384 f32 embedding, py:call end to end, tensor", 5000,
             fun() -> {ok, _} = py:call(Ctx, '__main__', get, [vector], Tensor) end},
            {"384 f32 embedding, py:call end to end, lists", 5000,
             fun() -> {ok, _} = py:call(Ctx, '__main__', get, [vector], #{}) end},
            {"224x224x3 u8, Python -> Erlang, tensor", 500,
             fun() -> {ok, _} = py:call(Ctx, '__main__', get, [image], Tensor) end},
            {"224x224x3 u8, Python -> Erlang, lists", 5,
             fun() -> {ok, _} = py:call(Ctx, '__main__', get, [image], #{}) end},
            {"224x224x3 u8, Erlang -> Python, tensor", 500,
             fun() -> {ok, _} = py:call(Ctx, '__main__', shape, [ImageT]) end},
            {"224x224x3 u8, Erlang -> Python, lists", 5,
             fun() -> {ok, _} = py:call(Ctx, '__main__', shape, [ImageL]) end}],
    io:format("~-50s ~12s~n", ["tensors.escript (median of 5 runs)", "us/call"]),
    [io:format("~-50s ~12.1f~n", [Name, median_us(N, F)]) || {Name, N, F} <- Rows],
    ok = py_context:stop(Ctx).

median_us(N, F) ->
    F(),
    Runs = [begin
                T0 = erlang:monotonic_time(nanosecond),
                repeat(N, F),
                (erlang:monotonic_time(nanosecond) - T0) / N / 1000
            end || _ <- lists:seq(1, 5)],
    lists:nth(3, lists:sort(Runs)).

repeat(0, _) -> ok;
repeat(N, F) -> F(), repeat(N - 1, F).
