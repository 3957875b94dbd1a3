%% @doc Erlang functions callable from Python: the registry behind
%% `py:register_function/2,3' and the serving of `erlang.call' from Python.
%%
%% A Python call of a registered function arrives as a message
%% `{py_callback, Ticket, Name, Args}'. When it comes from a request whose
%% caller waits for the reply (`py:call', `py:eval', ...), the caller serves
%% it itself while it waits (`serve/1' from `py_context:await/5'): the
%% function runs in the caller's process, and a `py:call' it makes goes to
%% the same context, which runs it on top of the waiting Python code. Every
%% other callback (casts, Python threads, asyncio) reaches this server, which
%% runs each in a new process.
%%
%% Names are stored as binaries; `erlang.<name>' and `from erlang import
%% <name>' in Python see exactly the registered names. Registration happens
%% from Erlang only: the table is written by the registering process
%% itself, and this server answers no requests at all, so a message Python
%% sends it (`erlang.send' can reach any pid) cannot register anything.
%% The library's own operations (sending values Python encoded) arrive with
%% an atom as name, which `erlang.call' cannot produce.
-module(py_callback).
-behaviour(gen_server).
-compile({no_auto_import, [register/2, unregister/1]}).

-export([start_link/1, register/2, register/3, unregister/1, lookup/1, execute/2,
         serve/1, exited/2, serving/0, run_scheduled/2, registered/0]).
-export([register_callbacks/0, init_tab/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(TABLE, py_callbacks).
%% The function that runs `_execute_py' (see start_link/1).
-define(EXECUTOR, {?MODULE, executor}).
-define(SERVING, '$py_serving_callback').
%% How deep an Erlang error reason is printed in the Python exception text,
%% and how long that text may get: a reason that holds the text of an
%% error from a nested callback must not grow with each level.
-define(REASON_DEPTH, 30).
-define(REASON_CHARS, 2000).

-type name() :: atom() | binary() | string().
-type callback() :: fun((list()) -> term()) | {module(), atom()}.

%% @doc No-op kept for code written for the C library, which registers its
%% built-in callbacks (`_whereis' and the like) here at boot: ours are part
%% of the `erlang' module.
-spec register_callbacks() -> ok.
register_callbacks() ->
    ok.

%% @doc No-op kept for code written for the C library: the callback table
%% is made by this module's server when the application starts.
-spec init_tab() -> ok.
init_tab() ->
    ok.

%%% ---------------------------------------------------------------------
%%% API
%%% ---------------------------------------------------------------------

%% @doc Starts the registry with the callbacks every installation has
%% (`Builtins', besides `_whereis') and the function that runs what
%% `erlang.schedule_py' schedules (`Executor', `py:call/4''s contract).
%% They come from the supervisor, so this module calls nothing above it.
-spec start_link(#{builtins := [{atom(), fun((list()) -> term())}],
                   executor := fun((term(), term(), list(), map()) -> {ok, term()} | {error, term()})}) ->
          {ok, pid()} | {error, term()}.
start_link(Config) ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, Config, []).

%% @doc Registers `Fun' under `Name': Python's `erlang.call(Name, A, B)'
%% runs `Fun([A, B])' (a fun of another arity N is applied to N arguments).
-spec register(name(), fun() | {module(), atom()}) -> ok.
register(Name, Fun) when is_function(Fun) ->
    store(name(Name), Fun);
register(Name, {M, F}) when is_atom(M), is_atom(F) ->
    store(name(Name), {M, F}).

%% @doc Registers `Module:Function(Args)' under `Name'.
-spec register(name(), module(), atom()) -> ok.
register(Name, Module, Function) ->
    register(Name, {Module, Function}).

-spec unregister(name()) -> ok.
unregister(Name) ->
    Bin = name(Name),
    ets:delete(?TABLE, Bin),
    ok = py_nif:callback_name_set(Bin, false).

-spec lookup(name()) -> {ok, callback()} | {error, not_found}.
lookup(Name) ->
    case ets:lookup(?TABLE, name(Name)) of
        [{_, Callback}] -> {ok, Callback};
        [] -> {error, not_found}
    end.

%% @doc The registered names.
-spec registered() -> [binary()].
registered() ->
    [N || {N, _} <- ets:tab2list(?TABLE)].

%% @doc Runs the function registered as `Name' with `Args'.
-spec execute(name(), list()) ->
    {ok, term()} | {error, {not_found, binary()}} | {error, {atom(), term(), list()}}.
execute(Name, Args) ->
    case lookup(Name) of
        {ok, Callback} ->
            try {ok, apply_callback(Callback, Args)}
            catch Class:Reason:Stack -> {error, {Class, Reason, Stack}}
            end;
        {error, not_found} ->
            {error, {not_found, name(Name)}}
    end.

%% @doc Serves one callback message from Python: runs the function and
%% hands the result back to the waiting Python code.
-spec serve({py_callback, reference(), binary(), term()}) -> ok.
serve({py_callback, Ticket, Op, Args}) when is_atom(Op) ->
    Reply =
        try {ok, internal(Op, decode_args(Args))}
        catch Class:Reason:Stack -> {error, Class, Reason, describe(atom_to_binary(Op), Class, Reason, Stack)}
        end,
    reply(Ticket, Reply);
serve({py_callback, Ticket, Name, Args}) ->
    Outer = erlang:put(?SERVING, true),
    Reply =
        try decode_args(Args) of
            Decoded ->
                case execute(Name, Decoded) of
                    {ok, Value} ->
                        {ok, Value};
                    {error, {not_found, _}} ->
                        {error, error, not_found,
                         text("no Erlang function is registered as '~ts'", [Name])};
                    {error, {Class, Reason, Stack}} ->
                        {error, Class, Reason, describe(Name, Class, Reason, Stack)}
                end
        catch
            Class:Reason:Stack -> {error, Class, Reason, describe(Name, Class, Reason, Stack)}
        end,
    restore_serving(Outer),
    reply(Ticket, Reply).

%% @doc The process serving a callback died (with `Reason') before it
%% answered: the waiting Python code gets `erlang.ErlangError'. Does
%% nothing if it had answered.
-spec exited({py_callback, reference(), binary() | atom(), term()}, term()) -> ok.
exited({py_callback, Ticket, Name, _Args}, Reason) ->
    Text = text("the Erlang process running callback '~ts' exited without replying", [text_name(Name)]),
    reply(Ticket, {error, exit, Reason, Text}).

text_name(Name) when is_atom(Name) -> atom_to_binary(Name);
text_name(Name) -> Name.

%% @doc Whether the calling process is running a function Python called.
-spec serving() -> boolean().
serving() ->
    erlang:get(?SERVING) =:= true.

restore_serving(undefined) -> erlang:erase(?SERVING);
restore_serving(Outer) -> erlang:put(?SERVING, Outer).

%% @doc Finishes a call whose Python function returned
%% `erlang.schedule(Name, *Args)' (or `schedule_py'): runs the callback in
%% the caller and returns its result as the call's.
-spec run_scheduled(binary(), list()) -> {ok, term()} | {error, term()}.
run_scheduled(<<"_execute_py">>, [Module, Function, Args, Kwargs]) ->
    Execute = persistent_term:get(?EXECUTOR),
    Execute(Module, Function, Args, Kwargs);
run_scheduled(Name, Args) ->
    case execute(Name, Args) of
        {ok, Value} -> {ok, Value};
        {error, {not_found, N}} -> {error, {callback_not_found, N}};
        {error, {Class, Reason, _Stack}} -> {error, {Class, Reason}}
    end.

%%% ---------------------------------------------------------------------
%%% Server
%%% ---------------------------------------------------------------------

init(#{builtins := Builtins, executor := Execute}) ->
    process_flag(trap_exit, true),
    _ = ets:new(?TABLE, [named_table, public, set, {read_concurrency, true}]),
    ok = py_nif:callback_names_reset(),
    persistent_term:put(?EXECUTOR, Execute),
    lists:foreach(fun({Name, Callback}) -> store(name(Name), Callback) end, builtins(Execute) ++ Builtins),
    {ok, #{}}.

%% No requests: see the module documentation.
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_request}, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info({py_callback, _, _, _} = Callback, State) ->
    _ = proc_lib:spawn(fun() -> serve(Callback) end),
    {noreply, State};
handle_info(_Info, State) ->
    {noreply, State}.

terminate(_Reason, _State) ->
    py_nif:callback_names_reset().

%%% ---------------------------------------------------------------------
%%% Internals
%%% ---------------------------------------------------------------------

store(Name, Callback) ->
    ok = py_nif:callback_name_set(Name, true),
    true = ets:insert(?TABLE, {Name, Callback}),
    ok.

apply_callback(Fun, Args) when is_function(Fun, 1) -> Fun(Args);
apply_callback(Fun, Args) when is_function(Fun, length(Args)) -> apply(Fun, Args);
apply_callback(Fun, Args) when is_function(Fun) -> erlang:error({badarity, {Fun, Args}});
apply_callback({M, F}, Args) -> M:F(Args).

reply(Ticket, Reply) ->
    case py_nif:callback_reply(Ticket, Reply) of
        heavy -> py_nif:callback_reply_heavy(Ticket, Reply);
        ok -> ok
    end.

%% Values Python could not build in place travel encoded; decoded in safe
%% mode (every atom they hold was admitted within the atom budget when
%% Python encoded them).
decode_args({py_etf, Encoded}) -> binary_to_term(Encoded, [safe]);
decode_args(Args) when is_list(Args) -> Args.

name(Name) when is_binary(Name) -> Name;
name(Name) when is_atom(Name) -> atom_to_binary(Name, utf8);
name(Name) when is_list(Name) -> unicode:characters_to_binary(Name).

text(Format, Args) ->
    unicode:characters_to_binary(io_lib:format(Format, Args)).

describe(Name, Class, Reason, Stack) ->
    Where = case Stack of
                [{M, F, A, _} | _] when is_list(A) -> text(" in ~p:~p/~p", [M, F, length(A)]);
                [{M, F, A, _} | _] -> text(" in ~p:~p/~p", [M, F, A]);
                _ -> <<>>
            end,
    Head = unicode:characters_to_binary(
             io_lib:format("Erlang callback '~ts' failed: ~p:~0tP", [Name, Class, Reason, ?REASON_DEPTH],
                           [{chars_limit, ?REASON_CHARS}])),
    <<Head/binary, Where/binary>>.

%% Callbacks every installation has, as the C library has them: name
%% lookup (`_whereis', with `erlang.whereis''s visibility rules) and
%% `_execute_py' (what `erlang.schedule_py' runs); the supervisor adds the
%% shared state's.
builtins(Execute) ->
    [{'_whereis', fun([Name]) -> py_nif:python_whereis(Name) end},
     {'_execute_py', fun([M, F, A, K]) ->
                             case Execute(M, F, A, K) of
                                 {ok, V} -> V;
                                 {error, E} -> erlang:error(E)
                             end
                     end}].

%% The library's own operations, for messages only the NIF builds.
internal(py_send, [Pid, Encoded]) -> send_encoded(Pid, Encoded).

%% erlang.send for values a Python thread cannot build (large maps) and for
%% pids on other nodes: true when sent, false when the process is gone. The
%% bytes were encoded by the NIF from a Python value; decoded in safe mode.
send_encoded(Pid, Encoded) when is_pid(Pid), node(Pid) =:= node() ->
    case is_process_alive(Pid) of
        true -> Pid ! binary_to_term(Encoded, [safe]), true;
        false -> false
    end;
send_encoded(Pid, Encoded) when is_pid(Pid) ->
    Pid ! binary_to_term(Encoded, [safe]),
    true.
