%% @doc The limit on pool-routed `py:call' requests in flight
%% (`max_concurrent', default `2 * schedulers + 1').
%%
%% A call takes a slot when it is handed to its context and gives it back
%% when it has run, inside the NIF, so a caller that dies or times out cannot
%% leak one. A call that finds no free slot waits (until its timeout) and
%% then returns `{error, {overloaded, Current, Max}}'.
-module(py_semaphore).

-export([init/0, max_concurrent/0, current/0, set_max_concurrent/1, acquire/1, release/0]).

%% @doc Applies the `max_concurrent' application setting.
-spec init() -> ok.
init() ->
    Max = application:get_env(erlang_python, max_concurrent, erlang:system_info(schedulers) * 2 + 1),
    set_max_concurrent(Max).

-spec max_concurrent() -> pos_integer() | infinity.
max_concurrent() ->
    {_, Max} = py_nif:semaphore_info(),
    Max.

-spec current() -> non_neg_integer().
current() ->
    {Current, _} = py_nif:semaphore_info(),
    Current.

-spec set_max_concurrent(pos_integer() | infinity) -> ok.
set_max_concurrent(Max) when Max =:= infinity; is_integer(Max), Max > 0 ->
    ok = py_nif:semaphore_set_max(Max).

%% @doc Takes a slot by hand (pair with release/0), waiting up to `Timeout'.
-spec acquire(timeout()) -> ok | {error, max_concurrent}.
acquire(Timeout) ->
    Deadline = case Timeout of
                   infinity -> infinity;
                   _ -> erlang:monotonic_time(millisecond) + Timeout
               end,
    acquire_until(Deadline, 1).

acquire_until(Deadline, Backoff) ->
    case py_nif:semaphore_acquire() of
        ok ->
            ok;
        {overloaded, _, _} ->
            Left = case Deadline of
                       infinity -> Backoff;
                       _ -> Deadline - erlang:monotonic_time(millisecond)
                   end,
            case Left =< 0 of
                true ->
                    {error, max_concurrent};
                false ->
                    receive after min(Backoff, Left) -> ok end,
                    acquire_until(Deadline, min(Backoff * 2, 50))
            end
    end.

-spec release() -> ok.
release() ->
    py_nif:semaphore_release().
