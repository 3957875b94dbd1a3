%% @doc Channels of raw bytes, both ways between Erlang and Python.
%%
%% `send/2' queues a binary for Python (`erlang.ByteChannel.receive_bytes',
%% iteration, `await async_receive_bytes()'); Python's `send_bytes(data)'
%% queues bytes for Erlang, taken with `try_receive/1' or `recv/1,2'. No
%% term encoding: the bytes arrive as they were sent. Waiting in `recv'
%% happens in the caller's `receive', never on a scheduler thread.
-module(py_byte_channel).

-export([new/0, new/1, send/2, try_receive/1, recv/1, recv/2, close/1, info/1]).
-export([register_callbacks/0]).

-type channel() :: reference().

-spec new() -> {ok, channel()}.
new() ->
    new(#{}).

%% @doc Options: `max_size' (bytes queued in each direction before
%% `busy', default 0 = unbounded).
-spec new(#{max_size => non_neg_integer()}) -> {ok, channel()} | {error, term()}.
new(Opts) when is_map(Opts) ->
    case maps:get(max_size, Opts, 0) of
        Max when is_integer(Max), Max >= 0 -> py_nif:byte_channel_new(Max);
        Other -> {error, {invalid_max_size, Other}}
    end.

%% @doc Queues `Bytes' for Python.
-spec send(channel(), iodata()) -> ok | busy | {error, closed}.
send(Channel, Bytes) when is_binary(Bytes) ->
    py_nif:channel_send_bytes(Channel, Bytes);
send(Channel, Bytes) ->
    py_nif:channel_send_bytes(Channel, iolist_to_binary(Bytes)).

%% @doc The next bytes Python sent, without waiting.
-spec try_receive(channel()) -> {ok, binary()} | {error, empty | closed}.
try_receive(Channel) ->
    py_nif:channel_take_bytes(Channel).

-spec recv(channel()) -> {ok, binary()} | {error, closed}.
recv(Channel) ->
    recv(Channel, infinity).

%% @doc The next bytes Python sent, waiting up to `Timeout' ms.
-spec recv(channel(), timeout()) -> {ok, binary()} | {error, closed | timeout}.
recv(Channel, Timeout) ->
    case try_receive(Channel) of
        {error, empty} ->
            Deadline = deadline(Timeout),
            Watch = py_nif:channel_watch(Channel),
            try
                wait(Channel, Watch, Deadline)
            after
                py_nif:channel_unwatch(Channel, Watch),
                flush(Watch)
            end;
        Other ->
            Other
    end.

wait(Channel, Watch, Deadline) ->
    case try_receive(Channel) of
        {error, empty} ->
            receive
                {py_channel_ready, Watch} -> wait(Channel, Watch, Deadline)
            after remaining(Deadline) ->
                {error, timeout}
            end;
        Other ->
            Other
    end.

flush(Watch) ->
    receive {py_channel_ready, Watch} -> flush(Watch) after 0 -> ok end.

deadline(infinity) -> infinity;
deadline(Ms) when is_integer(Ms), Ms >= 0 -> erlang:monotonic_time(millisecond) + Ms.

remaining(infinity) -> infinity;
remaining(Deadline) -> max(0, Deadline - erlang:monotonic_time(millisecond)).

%% @doc Closes both directions. Idempotent.
-spec close(channel()) -> ok.
close(Channel) ->
    py_nif:channel_close(Channel).

%% @doc The Erlang-to-Python direction's `#{size, len, max_size, closed}',
%% plus `pending' (bytes Python sent that Erlang has not taken).
-spec info(channel()) -> map().
info(Channel) ->
    py_nif:channel_info(Channel).

%% @doc No-op kept for code written for the C library: Python's
%% `ByteChannel' calls the NIF directly, with no Erlang callbacks.
-spec register_callbacks() -> ok.
register_callbacks() ->
    ok.
