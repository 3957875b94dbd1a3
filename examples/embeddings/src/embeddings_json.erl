%% @doc Just enough JSON for the benchmark's HTTP client (OTP 25 has no
%% json module, and the example takes no dependencies): objects become maps
%% with binary keys, arrays lists, strings binaries, `null' the atom `null'.
-module(embeddings_json).

-export([encode/1, decode/1]).

-spec encode(term()) -> iodata().
encode(true) -> <<"true">>;
encode(false) -> <<"false">>;
encode(null) -> <<"null">>;
encode(N) when is_integer(N) -> integer_to_binary(N);
encode(F) when is_float(F) -> float_to_binary(F, [short]);
encode(A) when is_atom(A) -> string(atom_to_binary(A));
encode(B) when is_binary(B) -> string(B);
encode(L) when is_list(L) -> [$[, lists:join($,, [encode(V) || V <- L]), $]];
encode(M) when is_map(M) ->
    [${, lists:join($,, [[encode(key(K)), $:, encode(V)] || {K, V} <- maps:to_list(M)]), $}].

key(K) when is_atom(K) -> atom_to_binary(K);
key(K) when is_binary(K) -> K.

string(B) -> [$", escape(B, 0, B, []), $"].

%% Copies runs of plain bytes whole; escapes quotes, backslashes, controls.
escape(<<>>, Len, Orig, Acc) ->
    lists:reverse([binary:part(Orig, byte_size(Orig) - Len, Len) | Acc]);
escape(<<C, Rest/binary>>, Len, Orig, Acc) when C =:= $"; C =:= $\\; C < 32 ->
    Start = byte_size(Orig) - byte_size(Rest) - 1 - Len,
    Esc = case C of
              $" -> <<"\\\"">>;
              $\\ -> <<"\\\\">>;
              $\n -> <<"\\n">>;
              $\t -> <<"\\t">>;
              $\r -> <<"\\r">>;
              _ -> io_lib:format("\\u~4.16.0b", [C])
          end,
    escape(Rest, 0, Orig, [Esc, binary:part(Orig, Start, Len) | Acc]);
escape(<<_, Rest/binary>>, Len, Orig, Acc) ->
    escape(Rest, Len + 1, Orig, Acc).

-spec decode(iodata()) -> term().
decode(Data) ->
    case value(ws(iolist_to_binary(Data))) of
        {Value, Rest} ->
            case ws(Rest) of
                <<>> -> Value;
                Extra -> erlang:error({json_trailing, Extra})
            end
    end.

value(<<${, R/binary>>) -> object(ws(R), #{});
value(<<$[, R/binary>>) -> array(ws(R), []);
value(<<$", R/binary>>) -> string_value(R, []);
value(<<"true", R/binary>>) -> {true, R};
value(<<"false", R/binary>>) -> {false, R};
value(<<"null", R/binary>>) -> {null, R};
value(Bin) -> number(Bin).

array(<<$], R/binary>>, []) ->
    {[], R};
array(Bin, Acc) ->
    {V, R} = value(Bin),
    case ws(R) of
        <<$,, R2/binary>> -> array(ws(R2), [V | Acc]);
        <<$], R2/binary>> -> {lists:reverse(Acc, [V]), R2}
    end.

object(<<$}, R/binary>>, Map) when map_size(Map) =:= 0 ->
    {Map, R};
object(<<$", R/binary>>, Map) ->
    {K, R1} = string_value(R, []),
    <<$:, R2/binary>> = ws(R1),
    {V, R3} = value(ws(R2)),
    case ws(R3) of
        <<$,, R4/binary>> -> object(ws(R4), Map#{K => V});
        <<$}, R4/binary>> -> {Map#{K => V}, R4}
    end.

string_value(Bin, Acc) ->
    case binary:match(Bin, [<<"\"">>, <<"\\">>]) of
        {Pos, 1} ->
            <<Part:Pos/binary, C, Rest/binary>> = Bin,
            case C of
                $" -> {iolist_to_binary(lists:reverse(Acc, [Part])), Rest};
                $\\ -> unescape(Rest, [Part | Acc])
            end
    end.

unescape(<<$u, H:4/binary, R/binary>>, Acc) ->
    case {binary_to_integer(H, 16), R} of
        {Hi, <<$\\, $u, L:4/binary, R2/binary>>} when Hi >= 16#D800, Hi =< 16#DBFF ->
            Lo = binary_to_integer(L, 16),
            C = 16#10000 + ((Hi - 16#D800) bsl 10) + (Lo - 16#DC00),
            string_value(R2, [<<C/utf8>> | Acc]);
        {C, _} ->
            string_value(R, [<<C/utf8>> | Acc])
    end;
unescape(<<C, R/binary>>, Acc) ->
    Char = case C of
               $" -> $";
               $\\ -> $\\;
               $/ -> $/;
               $b -> $\b;
               $f -> $\f;
               $n -> $\n;
               $r -> $\r;
               $t -> $\t
           end,
    string_value(R, [Char | Acc]).

number(Bin) ->
    N = number_length(Bin, 0),
    <<Token:N/binary, Rest/binary>> = Bin,
    {to_number(Token), Rest}.

number_length(Bin, N) ->
    case Bin of
        <<_:N/binary, C, _/binary>> when C >= $0, C =< $9; C =:= $-; C =:= $+; C =:= $.;
                                          C =:= $e; C =:= $E ->
            number_length(Bin, N + 1);
        _ when N > 0 ->
            N
    end.

to_number(Token) ->
    case binary:match(Token, [<<".">>, <<"e">>, <<"E">>]) of
        nomatch ->
            binary_to_integer(Token);
        _ ->
            try binary_to_float(Token)
            catch
                error:badarg ->
                    %% Erlang wants a fraction: 1e-05 -> 1.0e-05.
                    [Mantissa, Exponent] = binary:split(Token, [<<"e">>, <<"E">>]),
                    binary_to_float(<<Mantissa/binary, ".0e", Exponent/binary>>)
            end
    end.

ws(<<C, R/binary>>) when C =:= $\s; C =:= $\t; C =:= $\n; C =:= $\r -> ws(R);
ws(Bin) -> Bin.
