%% @doc The main asyncio event loop: an `ErlangEventLoop' running on its
%% own context, to which Erlang submits coroutines (and plain functions) as
%% tasks. A task's outcome arrives as `{async_result, Ref, Result}'.
%%
%% The loop runs on its context's thread, and that thread keeps serving the
%% context's ordinary requests while the loop runs (inside the loop's
%% `select'): `exec/1,2' and `eval/1,2' run there, in the caller's own
%% namespace for the loop's interpreter, so functions they define can be
%% submitted as `'__main__'' tasks. Idle, the loop blocks in the kernel
%% poller together with the context's queue: no polling.
%%
%% The loop's context runs in `event_loop_mode' (`worker', default, or
%% `owngil'). If the loop ever ends on its own, it is restarted.
-module(py_event_loop).
-behaviour(gen_server).

-export([start_link/0, stop/0, get_loop/0, create_task/3, create_task/4, run/3, run/4,
         await/1, await/2, spawn_task/3, spawn_task/4, exec/1, exec/2, eval/1, eval/2]).
-export([new/1, stop/1, create_task/5, run/5]).
-export([run_async/2, get_process_env/0, register_callbacks/0]).
-export([stop_loop/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(DEFAULT_AWAIT, 5000).
-define(LOOP, {?MODULE, loop}).

%% A loop is named by a reference (as in the C library); the pid of the
%% context running it is accepted too.
-type loop() :: reference() | pid().
-export_type([loop/0]).

%%% ---------------------------------------------------------------------
%%% API
%%% ---------------------------------------------------------------------

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

-spec stop() -> ok.
stop() ->
    gen_server:stop(?MODULE).

%% @doc The main loop's reference.
-spec get_loop() -> {ok, reference()} | {error, term()}.
get_loop() ->
    case persistent_term:get(?LOOP, undefined) of
        undefined -> {error, loop_not_running};
        {_Pid, Ref} -> {ok, Ref}
    end.

%% The main loop's context.
loop_context() ->
    case persistent_term:get(?LOOP, undefined) of
        undefined -> {error, loop_not_running};
        {Pid, _Ref} -> {ok, Pid}
    end.

%% @doc The C library's task submission: runs
%% `module.func(*args, **kwargs)' on `Loop' and sends the caller
%% `{async_result, Ref, Result}'. Keys: `ref', `caller' (default the
%% calling process), `module', `func', `args' (default `[]'), `kwargs'.
-spec run_async(loop(), map()) -> ok | {error, term()}.
run_async(Loop, #{ref := Ref, module := Module, func := Function} = Request) ->
    Caller = maps:get(caller, Request, self()),
    Args = maps:get(args, Request, []),
    Kwargs = maps:get(kwargs, Request, #{}),
    case py_loop:context(Loop) of
        {ok, Ctx} when Caller =:= self() ->
            py_loop:submit(Ctx, Ref, Module, Function, Args, Kwargs);
        {ok, Ctx} ->
            %% The result goes to `Caller': submitted on its behalf by a
            %% process that forwards it (the loop replies to its submitter).
            Self = self(),
            Submitter = spawn(fun() -> forward_task(Self, Ctx, Ref, Caller, Module, Function, Args, Kwargs) end),
            Mon = monitor(process, Submitter),
            receive
                {Submitter, Submitted} -> demonitor(Mon, [flush]), Submitted;
                {'DOWN', Mon, process, _, Reason} -> {error, Reason}
            end;
        {error, _} = Error ->
            Error
    end;
run_async(_Loop, Request) ->
    {error, {bad_request, Request}}.

forward_task(Parent, Ctx, Ref, Caller, Module, Function, Args, Kwargs) ->
    Mon = monitor(process, Caller),
    Submitted = py_loop:submit(Ctx, Ref, Module, Function, Args, Kwargs),
    Parent ! {self(), Submitted},
    receive
        {async_result, Ref, _} = Result -> Caller ! Result;
        {'DOWN', Mon, process, _, _} -> ok
    end.

%% @doc The calling process's namespace handle on the main loop, or
%% `undefined' if it has none yet (exec/1, eval/1 and `'__main__''
%% tasks make it).
-spec get_process_env() -> reference() | undefined.
get_process_env() ->
    case loop_context() of
        {ok, Ctx} -> erlang:get({py_local_env, Ctx});
        _ -> undefined
    end.

%% @doc No-op kept for code written for the C library, which registers
%% the loop's Erlang callbacks at boot: ours are built into the NIF.
-spec register_callbacks() -> ok.
register_callbacks() ->
    ok.

%% @doc Submits `Module.Function(*Args, **Kwargs)' to the loop: a coroutine
%% becomes a task, a plain function is called. Returns the reference of the
%% `{async_result, Ref, Result}' message.
-spec create_task(py_call:name(), py_call:name(), list()) -> reference().
create_task(Module, Function, Args) ->
    create_task(Module, Function, Args, #{}).

-spec create_task(py_call:name(), py_call:name(), list(), map()) -> reference().
create_task(Module, Function, Args, Kwargs) ->
    Ref = py_nif:reply_gate(),
    _ = case get_loop() of
            {ok, Loop} -> py_loop:submit(Loop, Ref, Module, Function, Args, Kwargs);
            {error, Reason} -> self() ! {async_result, Ref, {error, Reason}}
        end,
    Ref.

%% @doc A loop of one's own: a new context (`mode' worker or owngil,
%% default worker) running an event loop, linked to the caller. Use it with
%% create_task/5, run/5, exec/2, eval/2; stop it with stop/1.
-spec new(map()) -> {ok, reference()} | {error, term()}.
new(Opts) ->
    case py_context:new(#{mode => maps:get(mode, Opts, worker)}) of
        {ok, Loop} ->
            case py_loop:start_loop(Loop) of
                {ok, Tag} ->
                    _ = erlang:put({?MODULE, Loop}, Tag),
                    py_loop:handle(Loop);
                Error ->
                    _ = py_context:stop(Loop),
                    Error
            end;
        Error ->
            Error
    end.

%% @doc Stops a loop made with new/1: pending tasks are cancelled (their
%% callers get `{error, cancelled}'), then its context stops. Called by the
%% process that made the loop, it waits for the loop to wind down cleanly.
-spec stop(loop()) -> ok.
stop(LoopRef) ->
    case py_loop:context(LoopRef) of
        {ok, Loop} -> stop_loop(Loop, erlang:erase({?MODULE, Loop}));
        {error, _} -> ok
    end.

%% @doc create_task/4 on a given loop.
-spec create_task(loop(), py_call:name(), py_call:name(), list(), map()) -> reference().
create_task(Loop, Module, Function, Args, Kwargs) ->
    Ref = py_nif:reply_gate(),
    _ = py_loop:submit(Loop, Ref, Module, Function, Args, Kwargs),
    Ref.

%% @doc run/4 on a given loop.
-spec run(loop(), py_call:name(), py_call:name(), list(), map()) -> {ok, term()} | {error, term()}.
run(Loop, Module, Function, Args, Opts) ->
    Ref = create_task(Loop, Module, Function, Args, maps:get(kwargs, Opts, #{})),
    py_loop:await(Ref, maps:get(timeout, Opts, ?DEFAULT_AWAIT)).

%% @doc `create_task' then `await' (options: `timeout', default 5000 ms,
%% and `kwargs').
-spec run(py_call:name(), py_call:name(), list()) -> {ok, term()} | {error, term()}.
run(Module, Function, Args) ->
    run(Module, Function, Args, #{}).

-spec run(py_call:name(), py_call:name(), list(), map()) -> {ok, term()} | {error, term()}.
run(Module, Function, Args, Opts) ->
    Ref = create_task(Module, Function, Args, maps:get(kwargs, Opts, #{})),
    py_loop:await(Ref, maps:get(timeout, Opts, ?DEFAULT_AWAIT)).

%% @doc Waits for a task's result (default 5000 ms). After a timeout no
%% result message for `Ref' arrives any more.
-spec await(reference()) -> {ok, term()} | {error, term()}.
await(Ref) ->
    py_loop:await(Ref).

-spec await(reference(), timeout()) -> {ok, term()} | {error, term()}.
await(Ref, Timeout) ->
    py_loop:await(Ref, Timeout).

%% @doc Fire and forget: the task's outcome is not reported.
-spec spawn_task(py_call:name(), py_call:name(), list()) -> ok.
spawn_task(Module, Function, Args) ->
    spawn_task(Module, Function, Args, #{}).

-spec spawn_task(py_call:name(), py_call:name(), list(), map()) -> ok.
spawn_task(Module, Function, Args, Kwargs) ->
    _ = case get_loop() of
            {ok, Loop} -> py_loop:submit(Loop, undefined, Module, Function, Args, Kwargs);
            {error, _} -> ok
        end,
    ok.

%% @doc Runs statements on the loop's context, in the caller's namespace
%% for the loop's interpreter.
-spec exec(iodata()) -> ok | {error, term()}.
exec(Code) ->
    with_loop(fun(Loop) -> exec(Loop, Code) end).

-spec exec(loop(), iodata()) -> ok | {error, term()}.
exec(LoopRef, Code) ->
    with_env(LoopRef, fun(Loop, Env) -> py_context:exec(Loop, Code, Env) end).

%% @doc Evaluates an expression on the loop's context, in the caller's
%% namespace for the loop's interpreter.
-spec eval(iodata()) -> {ok, term()} | {error, term()}.
eval(Code) ->
    with_loop(fun(Loop) -> eval(Loop, Code) end).

-spec eval(loop(), iodata()) -> {ok, term()} | {error, term()}.
eval(LoopRef, Code) ->
    with_env(LoopRef, fun(Loop, Env) -> py_context:eval(Loop, Code, #{}, infinity, Env) end).

%% Runs `Fun(Context, Env)' with the caller's namespace on the loop.
with_env(LoopRef, Fun) ->
    case py_loop:context(LoopRef) of
        {ok, Loop} ->
            case py_call:local_env(Loop) of
                {ok, Env} -> Fun(Loop, Env);
                Error -> Error
            end;
        Error ->
            Error
    end.

%%% ---------------------------------------------------------------------
%%% Server
%%% ---------------------------------------------------------------------

init([]) ->
    process_flag(trap_exit, true),
    Mode = application:get_env(erlang_python, event_loop_mode, worker),
    case py_context:start_link({?MODULE, make_ref()}, Mode) of
        {ok, Loop} ->
            case py_loop:start_loop(Loop) of
                {ok, Tag} ->
                    {ok, Ref} = py_loop:handle(Loop),
                    persistent_term:put(?LOOP, {Loop, Ref}),
                    {ok, #{loop => Loop, tag => Tag}};
                Error ->
                    {stop, Error}
            end;
        {error, Reason} ->
            {stop, Reason}
    end.

handle_call(get_loop, _From, State) ->
    {reply, get_loop(), State};
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_request}, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

%% The loop ended on its own (its reply came): run a new one.
handle_info({Tag, Result}, #{loop := Loop, tag := Tag} = State) ->
    logger:warning(#{what => event_loop_ended, result => Result},
                   #{domain => [erlang_python]}),
    case py_loop:start_loop(Loop) of
        {ok, NewTag} -> {noreply, State#{tag := NewTag}};
        Error -> {stop, Error, State}
    end;
handle_info({'EXIT', Loop, Reason}, #{loop := Loop} = State) ->
    {stop, {loop_context_died, Reason}, State};
handle_info(_Info, State) ->
    {noreply, State}.

terminate(_Reason, #{loop := Loop, tag := Tag}) ->
    persistent_term:erase(?LOOP),
    stop_loop(Loop, Tag);
terminate(_Reason, _State) ->
    ok.

%%% ---------------------------------------------------------------------
%%% Internals
%%% ---------------------------------------------------------------------

%% @private Stops the loop and its context; with the loop's tag (the
%% caller started it), waits until the loop has wound down first.
stop_loop(Loop, Tag) ->
    _ = py_call:context_call(Loop, '_erlang_loop', '_stop_worker_loop', [], #{}, 5000),
    case Tag of
        undefined -> ok;
        _ -> receive {Tag, _} -> ok after 5000 -> ok end
    end,
    py_context:stop(Loop).

with_loop(Fun) ->
    case get_loop() of
        {ok, Loop} -> Fun(Loop);
        Error -> Error
    end.
