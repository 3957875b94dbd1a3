%% @doc Channels of Erlang terms, from Erlang to Python.
%%
%% A channel is a queue inside the NIF library: `send/2' encodes the term
%% and queues it in constant time, without waiting for Python; Python takes
%% the terms out with `erlang.Channel' (`receive', `try_receive', iteration,
%% `await async_receive()', `async for'), blocking without holding the GIL.
%% Passed to Python (as an argument, inside any term) a channel becomes a
%% capsule that `erlang.Channel(capsule)' wraps and that converts back to
%% the same channel.
%%
%% `max_size' (bytes of encoded terms queued, 0 = unbounded) is the
%% backpressure threshold: a send that would pass it returns `busy' (a term
%% larger than the threshold still goes into an empty channel).
-module(py_channel).

-export([new/0, new/1, send/2, close/1, info/1]).
%% The C library's callback plumbing, kept so code that names it still
%% loads (see register_callbacks/0).
-export([register_callbacks/0, handle_receive/1, handle_try_receive/1, handle_wait/1,
         handle_cancel_wait/1, handle_info/1]).

-export_type([channel/0]).

-type channel() :: reference().

%% @doc An unbounded channel.
-spec new() -> {ok, channel()}.
new() ->
    new(#{}).

%% @doc A channel; options: `max_size' (bytes, default 0 = unbounded).
-spec new(#{max_size => non_neg_integer()}) -> {ok, channel()} | {error, term()}.
new(Opts) when is_map(Opts) ->
    case maps:get(max_size, Opts, 0) of
        Max when is_integer(Max), Max >= 0 -> py_nif:channel_new(Max);
        Other -> {error, {invalid_max_size, Other}}
    end.

%% @doc Queues `Term' for Python.
-spec send(channel(), term()) -> ok | busy | {error, closed}.
send(Channel, Term) ->
    py_nif:channel_send(Channel, Term).

%% @doc Closes the channel: Python receivers get what is queued, then
%% `erlang.ChannelClosed' (StopIteration when iterating). Idempotent.
-spec close(channel()) -> ok.
close(Channel) ->
    py_nif:channel_close(Channel).

%% @doc `#{size => QueuedBytes, len => QueuedTerms, max_size => N, closed => boolean()}'.
-spec info(channel()) -> map().
info(Channel) ->
    py_nif:channel_info(Channel).

%% @doc No-op kept for code written for the C library, which registers
%% `_py_channel_*' Erlang callbacks for Python's receives: here Python's
%% `erlang.Channel' takes terms from the NIF directly.
-spec register_callbacks() -> ok.
register_callbacks() ->
    ok.

%% @doc The C library's `_py_channel_info' callback: `info/1' of
%% `[Channel]'.
-spec handle_info([channel()]) -> map() | {error, badarg}.
handle_info([Channel]) -> info(Channel);
handle_info(_) -> {error, badarg}.

%% @doc The C library's receive callbacks. Receiving is Python's side of
%% a channel here (`erlang.Channel'), with no Erlang callback in between:
%% these answer `{error, receive_is_python_side}'.
-spec handle_receive(list()) -> {error, receive_is_python_side}.
handle_receive(_Args) -> {error, receive_is_python_side}.

-spec handle_try_receive(list()) -> {error, receive_is_python_side}.
handle_try_receive(_Args) -> {error, receive_is_python_side}.

-spec handle_wait(list()) -> {error, receive_is_python_side}.
handle_wait(_Args) -> {error, receive_is_python_side}.

-spec handle_cancel_wait(list()) -> {error, receive_is_python_side}.
handle_cancel_wait(_Args) -> {error, receive_is_python_side}.
