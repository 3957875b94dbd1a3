%% @doc SharedDict: a dict shared by Erlang and Python, owned by its
%% creator (destroyed when it dies). Python sees it as
%% `erlang.SharedDict(handle)'. Keys are binaries; values any term (stored
%% encoded, decoded in safe mode on the way out). `py:shared_dict_*' are
%% the same functions.
-module(py_shared_dict).

-export([new/0, get/2, get/3, set/3, del/2, keys/1, destroy/1]).

%% @doc A new dict owned by the caller (destroyed when it dies). Python
%% sees it as `erlang.SharedDict(handle)'.
-spec new() -> {ok, reference()}.
new() ->
    py_nif:shared_dict_new().

%% @doc The value under `Key', or `undefined'.
-spec get(reference(), binary()) -> term().
get(Dict, Key) ->
    get(Dict, Key, undefined).

-spec get(reference(), binary(), term()) -> term().
get(Dict, Key, Default) when is_binary(Key) ->
    case py_nif:shared_dict_get(Dict, Key) of
        {ok, Value} -> Value;
        not_found -> Default
    end.

-spec set(reference(), binary(), term()) -> ok | {error, term()}.
set(Dict, Key, Value) when is_binary(Key) ->
    py_nif:shared_dict_set(Dict, Key, Value).

%% @doc Removes `Key' (ok if it was not there).
-spec del(reference(), binary()) -> ok.
del(Dict, Key) when is_binary(Key) ->
    py_nif:shared_dict_del(Dict, Key).

-spec keys(reference()) -> [binary()].
keys(Dict) ->
    py_nif:shared_dict_keys(Dict).

%% @doc Frees the dict now; later operations raise `badarg'. Idempotent.
-spec destroy(reference()) -> ok.
destroy(Dict) ->
    py_nif:shared_dict_destroy(Dict).
