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
