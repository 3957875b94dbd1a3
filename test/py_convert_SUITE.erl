%% Conversion through the BEAM, both directions, row by row of the table,
%% plus the sizes and limits users hit in practice.
-module(py_convert_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0]).
-export([atoms/1, integers/1, bignums/1, floats/1, special_floats/1, binaries/1, invalid_utf8/1, explicit_bytes/1, charlists/1, lists_and_tuples/1, maps/1, big_map_erlang_to_python/1, big_map_python_to_erlang/1, big_map_round_trip/1, colliding_keys/1, nested_big_maps/1, big_binary/1, pids_round_trip/1, refs_round_trip/1, pid_and_ref_types/1, sets_become_lists/1, nesting_limit_erlang/1, nesting_limit_python/1, cyclic_python_value/1, unencodable_string/1, terms_without_python_form/1, values_without_erlang_form/1, unhashable_map_key/1, kwargs_and_locals/1, erlang_atom_objects/1, numpy_like_tolist/1]).

-define(PY_OWN_INIT_PER_SUITE, true).
-include("py_suite.hrl").

all() ->
    [atoms, integers, bignums, floats, special_floats, binaries, invalid_utf8,
     explicit_bytes, charlists, lists_and_tuples, maps, big_map_erlang_to_python,
     big_map_python_to_erlang, big_map_round_trip, colliding_keys, nested_big_maps,
     big_binary, pids_round_trip, refs_round_trip, pid_and_ref_types,
     sets_become_lists, nesting_limit_erlang, nesting_limit_python,
     cyclic_python_value, unencodable_string, terms_without_python_form,
     values_without_erlang_form, unhashable_map_key, kwargs_and_locals,
     erlang_atom_objects, numpy_like_tolist].

init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(erlang_python),
    ok = add_path(?config(data_dir, Config)),
    Config.

%% Makes the suite's helper module importable in every context.
add_path(Dir) ->
    Code = iolist_to_binary(["import sys\nif ", io_lib:format("~p", [Dir]),
                             " not in sys.path: sys.path.insert(0, ", io_lib:format("~p", [Dir]), ")"]),
    lists:foreach(fun(Ctx) -> ok = py:exec(Ctx, Code) end, py_context_router:contexts()).

%% Erlang -> Python -> Erlang through an identity function.
ident(V) -> py:call(conv_helpers, ident, [V]).
type_of(V) -> {ok, T} = py:call(conv_helpers, type_of, [V]), T.
%% Erlang -> Python only: repr() of the Python value.
repr(V) -> {ok, R} = py:call(builtins, repr, [V]), R.

atoms(_) ->
    ?assertEqual(<<"True">>, repr(true)),
    ?assertEqual(<<"False">>, repr(false)),
    [?assertEqual(<<"None">>, repr(A)) || A <- [none, nil, undefined]],
    ?assertEqual(<<"'hello'">>, repr(hello)),
    ?assertEqual(<<"'héllo'"/utf8>>, repr('héllo')),
    ?assertEqual(<<"'日本'"/utf8>>, repr('日本')),
    ?assertEqual({ok, true}, ident(true)),
    ?assertEqual({ok, none}, ident(undefined)),
    ?assertEqual({ok, <<"hello">>}, ident(hello)).

integers(_) ->
    [?assertEqual({ok, I}, ident(I)) ||
        I <- [0, 1, -1, 255, 256, -5, 1 bsl 27, 1 bsl 59 - 1, -(1 bsl 59),
              1 bsl 59, -(1 bsl 59) - 1, 1 bsl 63 - 1, -(1 bsl 63), 1 bsl 64 - 1]],
    ?assertEqual(<<"int">>, type_of(42)).

bignums(_) ->
    Big = 1 bsl 200,
    ?assertEqual({ok, Big}, ident(Big)),
    ?assertEqual({ok, -Big}, ident(-Big)),
    ?assertEqual({ok, Big}, py:eval(<<"2**200">>)),
    ?assertEqual({ok, -Big}, py:eval(<<"-2**200">>)),
    ?assertEqual({ok, 1 bsl 64}, py:eval(<<"2**64">>)),
    ?assertEqual({ok, true}, py:eval(<<"x == 2**200">>, #{x => Big})),
    Huge = 7 bsl 5000 + 12345,
    ?assertEqual({ok, Huge}, ident(Huge)),
    ?assertEqual({ok, -Huge}, ident(-Huge)).

floats(_) ->
    [?assertEqual({ok, F}, ident(F)) || F <- [0.0, 1.5, -2.25, 1.0e300, 5.0e-324, 1.7976931348623157e308]],
    ?assertEqual(<<"float">>, type_of(1.0)).

special_floats(_) ->
    ?assertEqual({ok, nan}, py:eval(<<"float('nan')">>)),
    ?assertEqual({ok, infinity}, py:eval(<<"float('inf')">>)),
    ?assertEqual({ok, neg_infinity}, py:eval(<<"float('-inf')">>)),
    ?assertEqual({ok, [1.0, nan, infinity]}, py:eval(<<"[1.0, float('nan'), float('inf')]">>)).

binaries(_) ->
    ?assertEqual(<<"str">>, type_of(<<"abc">>)),
    ?assertEqual({ok, <<"abc">>}, ident(<<"abc">>)),
    ?assertEqual({ok, <<"é日本"/utf8>>}, ident(<<"é日本"/utf8>>)),
    ?assertEqual({ok, <<>>}, ident(<<>>)),
    ?assertEqual({ok, 3}, py:call(builtins, len, [<<"é日本"/utf8>>])).

invalid_utf8(_) ->
    Bad = <<255, 254, 0, 1>>,
    ?assertEqual(<<"bytes">>, type_of(Bad)),
    ?assertEqual({ok, Bad}, ident(Bad)),
    %% Encoded surrogates are not valid UTF-8 either.
    ?assertEqual(<<"bytes">>, type_of(<<16#ED, 16#A0, 16#80>>)).

explicit_bytes(_) ->
    ?assertEqual(<<"bytes">>, type_of({bytes, <<"abc">>})),
    ?assertEqual({ok, <<"abc">>}, ident({bytes, <<"abc">>})),
    ?assertEqual(<<"b'abc'">>, repr({bytes, <<"abc">>})),
    %% Only {bytes, Binary} is special.
    ?assertEqual(<<"tuple">>, type_of({bytes, 1})),
    ?assertEqual({ok, <<"ab">>}, py:eval(<<"bytearray(b'ab')">>)).

charlists(_) ->
    ?assertEqual(<<"[97, 98, 99]">>, repr("abc")),
    ?assertEqual({ok, "abc"}, ident("abc")).

lists_and_tuples(_) ->
    V = [1, {2, <<"x">>}, [], {}, [[[3]]], {1.5, true, none}],
    ?assertEqual({ok, V}, ident(V)),
    ?assertEqual(<<"tuple">>, type_of({1, 2})),
    ?assertEqual(<<"list">>, type_of([1, 2])),
    ?assertEqual({ok, {1, [2, 3]}}, py:eval(<<"(1, [2, 3])">>)).

maps(_) ->
    M = #{<<"a">> => 1, <<"b">> => #{<<"c">> => [1, 2]}, 3 => 4.5, {1, 2} => <<"t">>},
    ?assertEqual({ok, M}, ident(M)),
    ?assertEqual(<<"dict">>, type_of(#{})),
    %% Atom keys become str keys, which come back as binaries.
    ?assertEqual({ok, #{<<"a">> => 1}}, ident(#{a => 1})),
    ?assertEqual({ok, #{}}, ident(#{})).

big_map_erlang_to_python(_) ->
    M = maps:from_list([{integer_to_binary(I), I} || I <- lists:seq(1, 10000)]),
    ?assertEqual({ok, 10000}, py:call(builtins, len, [M])),
    ?assertEqual({ok, 5000}, py:eval(<<"m['5000']">>, #{m => M})).

big_map_python_to_erlang(_) ->
    {ok, M} = py:eval(<<"{str(i): i for i in range(10000)}">>),
    ?assertEqual(10000, map_size(M)),
    ?assertEqual(M, maps:from_list([{integer_to_binary(I), I} || I <- lists:seq(0, 9999)])),
    %% Every size around the flatmap and earlier crash thresholds.
    [begin
         {ok, Mn} = py:eval(<<"{i: i for i in range(n)}">>, #{n => N}),
         ?assertEqual(maps:from_list([{I, I} || I <- lists:seq(0, N - 1)]), Mn)
     end || N <- [31, 32, 33, 64, 128, 129, 130, 500]].

big_map_round_trip(_) ->
    M = maps:from_list([{<<"key", (integer_to_binary(I))/binary>>, [I, float(I)]} || I <- lists:seq(1, 10000)]),
    ?assertEqual({ok, M}, ident(M)).

colliding_keys(_) ->
    %% A str and a bytes key with the same content become one binary key;
    %% the later entry wins, also in maps too large for flat maps.
    ?assertEqual({ok, #{<<"a">> => 2}}, py:eval(<<"{'a': 1, b'a': 2}">>)),
    {ok, Big} = py:eval(<<"dict([(str(i), i) for i in range(40)] + [(b'5', 'bytes')])">>),
    ?assertEqual(40, map_size(Big)),
    ?assertEqual(<<"bytes">>, maps:get(<<"5">>, Big)).

nested_big_maps(_) ->
    {ok, V} = py:eval(<<"[{'inner': {i: str(i) for i in range(200)}, 'n': k} for k in range(3)]">>),
    ?assertEqual(3, length(V)),
    [?assertEqual(200, map_size(maps:get(<<"inner">>, E))) || E <- V],
    %% A pid inside a large map survives the encoded route.
    Self = self(),
    {ok, M} = py:eval(<<"{**{i: i for i in range(100)}, 'me': me}">>, #{me => Self}),
    ?assertEqual(Self, maps:get(<<"me">>, M)).

big_binary(_) ->
    Bin = binary:copy(<<"0123456789abcdef">>, 10 * 1024 * 1024 div 16),
    ?assertEqual({ok, byte_size(Bin)}, py:call(builtins, len, [Bin])),
    ?assertEqual({ok, Bin}, ident(Bin)),
    Bytes = <<255, Bin/binary>>,
    ?assertEqual({ok, Bytes}, ident(Bytes)).

pids_round_trip(_) ->
    Self = self(),
    ?assertEqual({ok, Self}, ident(Self)),
    Other = spawn(fun() -> receive stop -> ok end end),
    ?assertEqual({ok, [Self, Other]}, ident([Self, Other])),
    ?assertEqual({ok, true}, py:eval(<<"a == b">>, #{a => Self, b => Self})),
    ?assertEqual({ok, false}, py:eval(<<"a == b">>, #{a => Self, b => Other})),
    ?assertEqual({ok, 1}, py:eval(<<"len({a, b})">>, #{a => Self, b => Self})),
    Other ! stop.

refs_round_trip(_) ->
    Ref = make_ref(),
    ?assertEqual({ok, Ref}, ident(Ref)),
    ?assertEqual({ok, {Ref, [Ref]}}, ident({Ref, [Ref]})).

pid_and_ref_types(_) ->
    ?assertEqual(<<"Pid">>, type_of(self())),
    ?assertEqual(<<"Ref">>, type_of(make_ref())),
    <<"<erlang.Pid ", _/binary>> = repr(self()),
    ?assertMatch({error, {'TypeError', _}}, py:eval(<<"__import__('erlang').Pid()">>)).

sets_become_lists(_) ->
    {ok, L} = py:eval(<<"{3, 1, 2}">>),
    ?assertEqual([1, 2, 3], lists:sort(L)),
    ?assertEqual({ok, []}, py:eval(<<"frozenset()">>)).

nesting_limit_erlang(_) ->
    Nest = fun Nest(0, V) -> V; Nest(N, V) -> Nest(N - 1, [V]) end,
    ?assertMatch({ok, _}, ident(Nest(200, 1))),
    ?assertEqual({error, {nesting_too_deep, 200}}, ident(Nest(201, 1))),
    ?assertEqual({error, {nesting_too_deep, 200}}, ident(Nest(100000, 1))).

nesting_limit_python(_) ->
    Nest = fun Nest(0, V) -> V; Nest(N, V) -> Nest(N - 1, [V]) end,
    ?assertEqual({ok, Nest(200, 1)}, py:call(conv_helpers, nest, [200])),
    ?assertEqual({error, {nesting_too_deep, 200}}, py:call(conv_helpers, nest, [201])),
    ?assertEqual({error, {nesting_too_deep, 200}}, py:call(conv_helpers, nest, [50000])).

cyclic_python_value(_) ->
    ?assertEqual({error, {nesting_too_deep, 200}}, py:eval(<<"(lambda l: (l.append(l), l)[1])([])">>)).

unencodable_string(_) ->
    ?assertMatch({error, {unicode_encode_error, _}}, py:eval(<<"'\\ud800'">>)),
    ?assertMatch({error, {unicode_encode_error, _}}, py:eval(<<"{'k': ['\\udfff']}">>)).

terms_without_python_form(_) ->
    ?assertEqual({error, {unsupported_term, 'fun'}}, ident(fun() -> ok end)),
    ?assertEqual({error, {unsupported_term, port}}, ident(hd(erlang:ports()))),
    ?assertEqual({error, {unsupported_term, improper_list}}, ident([1 | 2])),
    ?assertEqual({error, {unsupported_term, bitstring}}, ident(<<1:3>>)),
    ?assertEqual({error, {unsupported_term, 'fun'}}, ident(#{a => [fun erlang:self/0]})),
    %% The context is fine afterwards.
    ?assertEqual({ok, 1}, ident(1)).

values_without_erlang_form(_) ->
    %% They stay in Python and come back as object handles.
    {ok, Date} = py:eval(<<"__import__('datetime').date(2024, 1, 2)">>),
    ?assert(py:is_ref(Date)),
    {ok, [1, Obj]} = py:eval(<<"[1, object()]">>),
    ?assert(py:is_ref(Obj)),
    {ok, Dec} = py:eval(<<"__import__('decimal').Decimal(1)">>),
    ?assertEqual({ok, <<"Decimal">>}, py:call(conv_helpers, type_of, [Dec])),
    %% Explicit contexts make handles too; nothing is silently stringified.
    ?assertNot(py:is_ref(make_ref())),
    ?assertNot(py:is_ref(<<"2024-01-02">>)).

unhashable_map_key(_) ->
    ?assertMatch({error, {'TypeError', "unhashable type" ++ _}}, ident(#{[1] => 2})).

kwargs_and_locals(_) ->
    ?assertEqual({ok, <<"1-2">>}, py:eval(<<"f'{a}-{b}'">>, #{a => 1, <<"b">> => 2})),
    ?assertEqual({ok, <<"[1, 2]">>}, py:call(json, dumps, [[1, 2]], #{})),
    ?assertEqual({ok, <<"{\n \"a\": 1\n}">>}, py:call(json, dumps, [#{a => 1}], #{indent => 1})).

erlang_atom_objects(_) ->
    ?assertEqual({ok, hello}, py:eval(<<"__import__('erlang').Atom('hello')">>)),
    ?assertEqual({ok, [ok, 'héllo']}, py:eval(<<"[__import__('erlang').Atom(n) for n in ('ok', 'héllo')]"/utf8>>)).

numpy_like_tolist(_) ->
    %% Objects whose type comes from numpy convert through tolist(); without
    %% numpy installed, a stand-in class exercises the same path.
    Code = <<"type('ndarray', (), {'__module__': 'numpy', 'tolist': lambda self: [1, 2]})()">>,
    ?assertEqual({ok, [1, 2]}, py:eval(Code)).
