%% @doc Top supervisor: the shared state table, the callback registry and
%% the logging and tracing sinks (which contexts rely on), then the context
%% registry (which owns the context table and cleans up after dead
%% contexts), the context supervisor, the default pool, and the event loops
%% (the main one and the pool).
-module(erlang_python_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Children =
        [#{id => py_state,
           start => {py_state, start_link, []}},
         #{id => py_import,
           start => {py_import, start_link, []}},
         #{id => py_callback,
           start => {py_callback, start_link, [#{builtins => py_state:callbacks(),
                                                  executor => fun py_call:call/4}]}},
         #{id => py_logger,
           start => {py_logger, start_link, []}},
         #{id => py_tracer,
           start => {py_tracer, start_link, []}},
         #{id => py_context_registry,
           start => {py_context_registry, start_link, []}},
         #{id => py_context_sup,
           start => {py_context_sup, start_link, []},
           type => supervisor},
         #{id => py_default_pool,
           start => {py_context_router, start_default_link, []}},
         #{id => py_event_loop,
           start => {py_event_loop, start_link, []}},
         #{id => py_event_loop_pool,
           start => {py_event_loop_pool, start_link, []}},
         #{id => py_reactor_context_default,
           start => {py_reactor_context, start_link, [default, worker, #{name => py_reactor_context_default}]}}],
    {ok, {#{strategy => rest_for_one, intensity => 5, period => 10}, Children}}.
