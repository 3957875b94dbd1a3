%% @doc Code every new context runs once at start (after the registered
%% paths and imports); its globals are the template of every process-local
%% namespace of that context, so what it defines is visible to every
%% process's `py:eval'/`py:exec'. Contexts already running are unaffected.
%% The application setting `preload_code' sets it at start.
-module(py_preload).

-export([set_code/1, get_code/0, clear_code/0, has_preload/0]).

-define(KEY, {?MODULE, code}).

-spec set_code(iodata()) -> ok.
set_code(Code) ->
    persistent_term:put(?KEY, iolist_to_binary(Code)).

-spec get_code() -> binary() | undefined.
get_code() ->
    persistent_term:get(?KEY, undefined).

-spec clear_code() -> ok.
clear_code() ->
    _ = persistent_term:erase(?KEY),
    ok.

-spec has_preload() -> boolean().
has_preload() ->
    get_code() =/= undefined.
