%% @doc Imports and `sys.path' entries every interpreter must have.
%%
%% `ensure_imported/1,2' imports a module at once in every live interpreter
%% (the default pool's, named pools', own-GIL contexts', event loops') and
%% records it, so every context started later imports it too; `add_path/1'
%% puts a directory first on `sys.path' the same way. The application
%% settings `imports' (modules or `{Module, Function}') and `paths' are
%% registered at start.
-module(py_import).
-behaviour(gen_server).

-export([start_link/0, ensure_imported/1, ensure_imported/2, is_imported/1, is_imported/2,
         all_imports/0, import_list/0, clear_imports/0, add_path/1, add_paths/1, all_paths/0,
         clear_paths/0, is_path_added/1, active_venv/0, set_venv/1]).
-export([init/0]).
-export([init/1, handle_call/3, handle_cast/2]).

-define(KEY(What), {?MODULE, What}).

%%% ---------------------------------------------------------------------
%%% API
%%% ---------------------------------------------------------------------

%% @doc No-op kept for code written for the C library, which loads the
%% `imports' and `paths' settings here at boot: this application's
%% server registers them when it starts.
-spec init() -> ok.
init() ->
    ok.

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Imports `Module' in every interpreter, now and later.
-spec ensure_imported(py_call:name()) -> ok | {error, term()}.
ensure_imported(Module) ->
    ensure_imported(Module, all).

%% @doc Imports `Module' everywhere and checks it has `Function'.
-spec ensure_imported(py_call:name(), py_call:name() | all) -> ok | {error, term()}.
ensure_imported(Module, Function) ->
    case {name(Module), fun_name(Function)} of
        {<<"__main__">>, _} ->
            {error, main_not_cacheable};
        {M, F} when is_binary(M), (is_binary(F) orelse F =:= all) ->
            Added = gen_server:call(?MODULE, {add_import, {M, F}}),
            case py_call:each_interpreter('_env_import', [[[M, none_if_all(F)]]]) of
                ok ->
                    ok;
                {error, [{_Ctx, Reason} | _]} ->
                    %% Forget it only if this call registered it.
                    Added andalso gen_server:call(?MODULE, {remove_import, {M, F}}),
                    {error, Reason}
            end;
        _ ->
            {error, {invalid_import, {Module, Function}}}
    end.

-spec is_imported(py_call:name()) -> boolean().
is_imported(Module) ->
    lists:keymember(name(Module), 1, all_imports()).

-spec is_imported(py_call:name(), py_call:name()) -> boolean().
is_imported(Module, Function) ->
    lists:member({name(Module), fun_name(Function)}, all_imports()).

%% @doc `[{ModuleBin, FunctionBin | all}]', in registration order.
-spec all_imports() -> [{binary(), binary() | all}].
all_imports() ->
    persistent_term:get(?KEY(imports), []).

%% @doc `{ok, #{ModuleBin => [FunctionBin]}}'.
-spec import_list() -> {ok, #{binary() => [binary()]}}.
import_list() ->
    {ok, lists:foldl(fun({M, all}, Acc) -> maps:update_with(M, fun(L) -> L end, [], Acc);
                        ({M, F}, Acc) -> maps:update_with(M, fun(L) -> L ++ [F] end, [F], Acc)
                     end, #{}, all_imports())}.

%% @doc Forgets the registered imports (modules stay imported).
-spec clear_imports() -> ok.
clear_imports() ->
    gen_server:call(?MODULE, clear_imports).

%% @doc Puts `Path' first on `sys.path' in every interpreter, now and later.
-spec add_path(iodata()) -> ok | {error, term()}.
add_path(Path) ->
    add_paths([Path]).

%% @doc Puts `Paths' first on `sys.path', in this order.
-spec add_paths([iodata()]) -> ok | {error, term()}.
add_paths(Paths) ->
    case catch [path(P) || P <- Paths] of
        Bins when is_list(Bins) ->
            ok = gen_server:call(?MODULE, {add_paths, Bins}),
            py_call:each_interpreter('_env_add_paths', [all_paths()]);
        _ ->
            {error, {invalid_paths, Paths}}
    end.

%% @doc The registered paths, newest first (as on `sys.path').
-spec all_paths() -> [binary()].
all_paths() ->
    persistent_term:get(?KEY(paths), []).

%% @doc Forgets the registered paths (`sys.path' is left as it is).
-spec clear_paths() -> ok.
clear_paths() ->
    gen_server:call(?MODULE, clear_paths).

-spec is_path_added(iodata()) -> boolean().
is_path_added(Path) ->
    lists:member(path(Path), all_paths()).

%% @private The virtual environment new contexts activate.
-spec active_venv() -> binary() | undefined.
active_venv() ->
    persistent_term:get(?KEY(venv), undefined).

%% @private
-spec set_venv(binary() | undefined) -> ok.
set_venv(Venv) ->
    gen_server:call(?MODULE, {set_venv, Venv}).

%%% ---------------------------------------------------------------------

name(N) when is_atom(N) -> atom_to_binary(N);
name(N) when is_binary(N) -> N;
name(N) when is_list(N) -> unicode:characters_to_binary(N);
name(N) -> N.

fun_name(all) -> all;
fun_name(F) -> name(F).

none_if_all(all) -> none;
none_if_all(F) -> F.

path(P) when is_binary(P) -> P;
path(P) when is_list(P) -> unicode:characters_to_binary(P);
path(P) when is_atom(P) -> atom_to_binary(P).

%%% ---------------------------------------------------------------------
%%% Server: serialises changes; readers go to persistent_term directly.
%%% ---------------------------------------------------------------------

init([]) ->
    Imports = [entry(I) || I <- application:get_env(erlang_python, imports, [])],
    Paths = [path(P) || P <- application:get_env(erlang_python, paths, [])],
    persistent_term:put(?KEY(imports), Imports),
    persistent_term:put(?KEY(paths), Paths),
    persistent_term:put(?KEY(venv), undefined),
    {ok, #{}}.

entry({M, F}) -> {name(M), fun_name(F)};
entry(M) -> {name(M), all}.

handle_call({add_import, Entry}, _From, State) ->
    Imports = all_imports(),
    New = not lists:member(Entry, Imports),
    New andalso persistent_term:put(?KEY(imports), Imports ++ [Entry]),
    {reply, New, State};
handle_call({remove_import, Entry}, _From, State) ->
    persistent_term:put(?KEY(imports), lists:delete(Entry, all_imports())),
    {reply, ok, State};
handle_call(clear_imports, _From, State) ->
    persistent_term:put(?KEY(imports), []),
    {reply, ok, State};
handle_call({add_paths, New}, _From, State) ->
    %% Newly added paths go first, in the order given.
    persistent_term:put(?KEY(paths), New ++ (all_paths() -- New)),
    {reply, ok, State};
handle_call(clear_paths, _From, State) ->
    persistent_term:put(?KEY(paths), []),
    {reply, ok, State};
handle_call({set_venv, Venv}, _From, State) ->
    persistent_term:put(?KEY(venv), Venv),
    {reply, ok, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.
