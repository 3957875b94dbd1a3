%% @doc Supervises context processes. Contexts are `temporary': a context
%% that dies takes nothing else with it; its callers get
%% `{error, {context_died, Reason}}'.
-module(py_context_sup).
-behaviour(supervisor).

-export([start_link/0, init/1, start_context/2, stop_context/1, which_contexts/0]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Spec = #{id => py_context,
             start => {py_context, start_link, []},
             restart => temporary,
             shutdown => 5000},
    {ok, {#{strategy => simple_one_for_one, intensity => 10, period => 10}, [Spec]}}.

%% @doc Starts a supervised context with the given id and mode.
-spec start_context(term(), worker | owngil) -> {ok, pid()} | {error, term()}.
start_context(Id, Mode) ->
    supervisor:start_child(?MODULE, [Id, Mode, #{}]).

-spec stop_context(pid()) -> ok.
stop_context(Pid) ->
    _ = supervisor:terminate_child(?MODULE, Pid),
    ok.

-spec which_contexts() -> [pid()].
which_contexts() ->
    [P || {_, P, _, _} <- supervisor:which_children(?MODULE), is_pid(P)].
