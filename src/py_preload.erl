%% @doc Code every new context runs once at start (after the registered
%% paths and imports); its globals are the template of every process-local
%% namespace of that context, so what it defines is visible to every
%% process's `py:eval'/`py:exec'. Contexts already running are unaffected.
%% The application setting `preload_code' sets it at start.
-module(py_preload).

-export([set_code/1, get_code/0, clear_code/0, has_preload/0, apply_preload/1]).

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

%% @doc Runs the preload code now in one context (its pid, or the reference
%% `py_context:get_nif_ref/1' gives); its globals become the template of
%% that context's new process-local namespaces. `ok' when there is no
%% preload code.
-spec apply_preload(pid() | reference()) -> ok | {error, term()}.
apply_preload(Ctx) ->
    case {get_code(), py_loop:context(Ctx)} of
        {undefined, _} ->
            ok;
        {_Code, {error, _}} ->
            {error, {context_died, noproc}};
        {Code, {ok, Pid}} ->
            case py_call:context_call(Pid, erlang, '_env_preload', [Code], #{}, infinity) of
                {ok, _} -> ok;
                Error -> Error
            end
    end.
