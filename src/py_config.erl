%% @private The application settings of `erlang_python': every one is
%% checked when the application starts, and a bad one stops the start with
%% `{invalid_setting, Key, Value, Expected}'. The table in
%% docs/configuration.md lists them.
-module(py_config).

-export([validate/0, settings/0]).

%% {Key, What the value must be (for the error), Check}.
settings() ->
    [{num_contexts, "default or a positive integer", fun(V) -> V =:= default orelse pos(V) end},
     {context_mode, "worker or owngil", fun mode/1},
     {max_concurrent, "a positive integer or infinity", fun(V) -> V =:= infinity orelse pos(V) end},
     {max_depth, "an integer from 1 to 10000", fun(V) -> is_integer(V) andalso V >= 1 andalso V =< 10000 end},
     {max_state_entries, "a non-negative integer or infinity",
      fun(V) -> V =:= infinity orelse (is_integer(V) andalso V >= 0) end},
     {max_traces, "a positive integer", fun pos/1},
     {log_level, "a logger level (debug ... emergency) or none",
      fun(V) -> lists:member(V, [none, debug, info, notice, warning, error, critical, alert, emergency]) end},
     {event_loop_mode, "worker or owngil", fun mode/1},
     {event_loop_pool_size, "a non-negative integer", fun(V) -> is_integer(V) andalso V >= 0 end},
     {event_loop_pool_owngil, "true or false", fun is_boolean/1},
     {python_executable, "a path (string or binary)", fun text/1},
     {python, "a python executable or libpython path (string or binary)", fun text/1},
     {python_allocator, "auto, default, mimalloc, pymalloc or malloc",
      fun(V) -> lists:member(V, [auto, default, mimalloc, pymalloc, malloc]) end},
     {malloc_tuning, "true or false", fun is_boolean/1},
     {faulthandler, "true or false", fun is_boolean/1},
     {enable_memory_limits, "true or false", fun is_boolean/1},
     {imports, "a list of modules or {Module, Function}",
      fun(V) -> is_list(V) andalso lists:all(fun import/1, V) end},
     {paths, "a list of directories (strings or binaries)", fun(V) -> is_list(V) andalso lists:all(fun text/1, V) end},
     {preload_code, "Python source (string or binary)", fun text/1},
     {python_visible_names, "all or a list of registered names (atoms)",
      fun(V) -> V =:= all orelse (is_list(V) andalso lists:all(fun is_atom/1, V)) end},
     {owngil_pool_size, "a non-negative integer", fun(V) -> is_integer(V) andalso V >= 0 end}].

%% @doc `ok', or the first bad setting.
-spec validate() -> ok | {error, {invalid_setting, atom(), term(), string()}}.
validate() ->
    Bad = [{invalid_setting, Key, Value, Expected}
           || {Key, Expected, Check} <- settings(),
              {ok, Value} <- [application:get_env(erlang_python, Key)],
              not safe(Check, Value)],
    case Bad of
        [] -> ok;
        [First | _] -> {error, First}
    end.

safe(Check, Value) ->
    try Check(Value) of
        Result -> Result =:= true
    catch
        _:_ -> false
    end.

pos(V) -> is_integer(V) andalso V > 0.

mode(V) -> V =:= worker orelse V =:= owngil.

text(V) when is_binary(V) -> true;
text(V) when is_list(V) -> io_lib:char_list(V);
text(_) -> false.

name(V) -> is_atom(V) orelse text(V).

import({M, F}) -> name(M) andalso name(F);
import(M) -> name(M).
