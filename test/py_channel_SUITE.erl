%% Channels (terms Erlang -> Python), byte channels (both ways) and
%% PyBuffer, received in worker and owngil contexts.
-module(py_channel_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(PY_OWN_INIT_PER_TESTCASE, true).
-define(PY_BOTH_MODES, <<>>).
-include("py_suite.hrl").

all() ->
    [{group, worker}, {group, owngil}, bad_handles, info_and_options].

groups() ->
    py_test_groups:both_modes(
      [terms_arrive_in_order, try_receive_and_timeout, four_receivers_four_senders,
       busy_under_backpressure, close_while_a_receiver_waits, async_receive_and_async_for,
       channel_handle_round_trips, byte_channel_both_directions, byte_channel_recv_waits,
       buffer_readline_over_chunked_writes, buffer_read_sizes_seek_find, buffer_memoryview_pins]).

-define(PY, <<"import asyncio, threading\n"
              "from erlang.channel import Channel, ChannelClosed, ByteChannel, ByteChannelClosed\n"
              "def drain(h):\n"
              "    return list(Channel(h))\n"
              "def receive_or_closed(h, pid):\n"
              "    ch = Channel(h)\n"
              "    erlang.send(pid, 'waiting')\n"
              "    try:\n"
              "        return ch.receive()\n"
              "    except ChannelClosed:\n"
              "        return 'closed'\n"
              "def try_and_timeout(h):\n"
              "    ch = Channel(h)\n"
              "    first = ch.try_receive()\n"
              "    try:\n"
              "        ch.receive(0.01)\n"
              "        timed_out = False\n"
              "    except TimeoutError:\n"
              "        timed_out = True\n"
              "    return first, timed_out\n"
              "def receivers(h, n):\n"
              "    ch = Channel(h)\n"
              "    got = [[] for _ in range(n)]\n"
              "    def run(mine):\n"
              "        for item in ch:\n"
              "            mine.append(item)\n"
              "    threads = [threading.Thread(target=run, args=(g,)) for g in got]\n"
              "    for t in threads: t.start()\n"
              "    for t in threads: t.join()\n"
              "    return got\n"
              "def take(h, n):\n"
              "    ch = Channel(h)\n"
              "    return [ch.receive() for _ in range(n)]\n"
              "async def async_side(h, pid):\n"
              "    ch = Channel(h)\n"
              "    erlang.send(pid, 'armed')\n"
              "    first = await ch.async_receive()\n"
              "    rest = [x async for x in ch]\n"
              "    return first, rest\n"
              "def run_async(h, pid):\n"
              "    return erlang.run(async_side(h, pid))\n"
              "def echo_bytes(h):\n"
              "    ch = ByteChannel(h)\n"
              "    data = ch.receive_bytes(5)\n"
              "    ch.send_bytes(data.upper())\n"
              "    return data\n"
              "def send_bytes(h, data):\n"
              "    return ByteChannel(h).send_bytes(data)\n"
              "def lines(buf):\n"
              "    return [line for line in buf]\n"
              "def buffer_ops(buf):\n"
              "    out = [buf.read(3), buf.read_nonblock(2), buf.tell(), buf.find(b'xyz'), buf.readable_amount()]\n"
              "    buf.seek(0)\n"
              "    out.append(buf.read(5))\n"
              "    out.append(buf.read())\n"
              "    out.append(buf.at_eof())\n"
              "    return out\n"
              "def hold_view(buf, pid):\n"
              "    view = memoryview(buf)\n"
              "    erlang.send(pid, ('viewing', bytes(view)))\n"
              "    erlang.call('view_check')\n"
              "    view.release()\n"
              "    return len(buf)\n">>).

call(Config, Fun, Args) ->
    py_context:call(?config(ctx, Config), '__main__', Fun, Args, #{}, 30000).

%% Runs `Fun(Args)' in the case's context from another process; the
%% result comes back as {result, Value}.
call_async(Config, Fun, Args) ->
    Self = self(),
    spawn_link(fun() -> Self ! {result, call(Config, Fun, Args)} end).

result() ->
    receive {result, R} -> R after 30000 -> ct:fail(no_result) end.

%%% ---------------------------------------------------------------------

terms_arrive_in_order(Config) ->
    {ok, Ch} = py_channel:new(),
    Terms = [1, -7, 2.5, <<"bin">>, [1, 2, 3], #{<<"k">> => [1, {2, 3}]}, {tuple, 1}, 1 bsl 80, self()],
    [ok = py_channel:send(Ch, T) || T <- Terms],
    ok = py_channel:close(Ch),
    Self = self(),
    ?assertEqual({ok, [1, -7, 2.5, <<"bin">>, [1, 2, 3], #{<<"k">> => [1, {2, 3}]}, {<<"tuple">>, 1}, 1 bsl 80, Self]},
                 call(Config, drain, [Ch])),
    ?assertEqual({error, closed}, py_channel:send(Ch, late)).

try_receive_and_timeout(Config) ->
    {ok, Ch} = py_channel:new(),
    ?assertEqual({ok, {none, true}}, call(Config, try_and_timeout, [Ch])),
    ok = py_channel:send(Ch, 5),
    ?assertEqual({ok, {5, true}}, call(Config, try_and_timeout, [Ch])).

four_receivers_four_senders(Config) ->
    {ok, Ch} = py_channel:new(),
    call_async(Config, receivers, [Ch, 4]),
    Self = self(),
    PerSender = 2500,
    Senders = [spawn_link(fun() ->
                                  [ok = py_channel:send(Ch, {S, I}) || I <- lists:seq(1, PerSender)],
                                  Self ! {sent, S}
                          end) || S <- lists:seq(1, 4)],
    [receive {sent, S} -> ok end || S <- lists:seq(1, length(Senders))],
    ok = py_channel:close(Ch),
    {ok, Got} = result(),
    All = lists:append(Got),
    ?assertEqual(4 * PerSender, length(All)),
    ?assertEqual(lists:sort([[S, I] || S <- lists:seq(1, 4), I <- lists:seq(1, PerSender)]),
                 lists:sort([tuple_to_list(T) || T <- All])),
    %% Each receiver saw each sender's items in order.
    [?assertEqual(lists:sort(Mine), Mine) || R <- Got, S <- lists:seq(1, 4),
                                             Mine <- [[I || {S2, I} <- R, S2 =:= S]]].

busy_under_backpressure(Config) ->
    {ok, Ch} = py_channel:new(#{max_size => 200}),
    Results = [py_channel:send(Ch, {item, I, <<0:256>>}) || I <- lists:seq(1, 20)],
    {Oks, Busy} = lists:splitwith(fun(R) -> R =:= ok end, Results),
    ?assert(length(Oks) >= 1),
    ?assert(length(Busy) >= 1),
    ?assert(lists:all(fun(R) -> R =:= busy end, Busy)),
    #{size := Size, max_size := 200} = py_channel:info(Ch),
    ?assert(Size =< 200),
    %% Draining makes room again.
    {ok, Taken} = call(Config, take, [Ch, length(Oks)]),
    ?assertEqual(length(Oks), length(Taken)),
    ?assertEqual(ok, py_channel:send(Ch, again)).

close_while_a_receiver_waits(Config) ->
    {ok, Ch} = py_channel:new(),
    call_async(Config, receive_or_closed, [Ch, self()]),
    receive <<"waiting">> -> ok after 10000 -> ct:fail(receiver_not_started) end,
    ok = py_channel:close(Ch),
    ?assertEqual({ok, <<"closed">>}, result()).

async_receive_and_async_for(Config) ->
    {ok, Ch} = py_channel:new(),
    call_async(Config, run_async, [Ch, self()]),
    receive <<"armed">> -> ok after 10000 -> ct:fail(not_armed) end,
    [ok = py_channel:send(Ch, I) || I <- lists:seq(1, 5)],
    ok = py_channel:close(Ch),
    ?assertEqual({ok, {1, [2, 3, 4, 5]}}, result()).

channel_handle_round_trips(Config) ->
    {ok, Ch} = py_channel:new(),
    ?assertEqual({ok, Ch}, py_context:eval(?config(ctx, Config), <<"h">>, #{h => Ch})),
    ?assertEqual({ok, [Ch, Ch]}, py_context:eval(?config(ctx, Config), <<"[Channel(h)._cap, h]">>, #{h => Ch})).

byte_channel_both_directions(Config) ->
    {ok, BC} = py_byte_channel:new(),
    ok = py_byte_channel:send(BC, [<<"hel">>, "lo"]),
    ?assertEqual({ok, <<"hello">>}, call(Config, echo_bytes, [BC])),
    ?assertEqual({ok, <<"HELLO">>}, py_byte_channel:try_receive(BC)),
    ?assertEqual({error, empty}, py_byte_channel:try_receive(BC)),
    ok = py_byte_channel:close(BC),
    ?assertEqual({error, closed}, py_byte_channel:try_receive(BC)),
    ?assertEqual({error, closed}, py_byte_channel:send(BC, <<"x">>)).

byte_channel_recv_waits(Config) ->
    {ok, BC} = py_byte_channel:new(),
    ?assertEqual({error, timeout}, py_byte_channel:recv(BC, 10)),
    Self = self(),
    Waiter = spawn_link(fun() -> Self ! {got, py_byte_channel:recv(BC, 30000)} end),
    ?assertEqual({ok, true}, call(Config, send_bytes, [BC, {bytes, <<1, 2, 3>>}])),
    ?assertEqual({ok, <<1, 2, 3>>}, receive {got, G} -> G after 30000 -> ct:fail(Waiter) end),
    %% A waiter is told when the channel closes.
    spawn_link(fun() -> Self ! {got, py_byte_channel:recv(BC)} end),
    ok = py_byte_channel:close(BC),
    ?assertEqual({error, closed}, receive {got, G2} -> G2 after 30000 -> ct:fail(no_close) end).

buffer_readline_over_chunked_writes(Config) ->
    {ok, Buf} = py_buffer:new(),
    call_async(Config, lines, [Buf]),
    Text = iolist_to_binary([io_lib:format("line ~b of the stream\n", [I]) || I <- lists:seq(1, 200)]),
    write_chunks(Buf, Text, 7),
    ok = py_buffer:write(Buf, <<"no newline at the end">>),
    ok = py_buffer:close(Buf),
    {ok, Lines} = result(),
    ?assertEqual(201, length(Lines)),
    ?assertEqual(<<Text/binary, "no newline at the end">>, iolist_to_binary(Lines)).

write_chunks(_Buf, <<>>, _N) -> ok;
write_chunks(Buf, Bin, N) when byte_size(Bin) =< N -> ok = py_buffer:write(Buf, Bin);
write_chunks(Buf, Bin, N) ->
    <<Chunk:N/binary, Rest/binary>> = Bin,
    ok = py_buffer:write(Buf, Chunk),
    write_chunks(Buf, Rest, N).

buffer_read_sizes_seek_find(Config) ->
    {ok, Buf} = py_buffer:new(16),
    ok = py_buffer:write(Buf, <<"abcdefxyz">>),
    ok = py_buffer:close(Buf),
    ?assertEqual({ok, [<<"abc">>, <<"de">>, 5, 6, 4, <<"abcde">>, <<"fxyz">>, true]},
                 call(Config, buffer_ops, [Buf])).

buffer_memoryview_pins(Config) ->
    {ok, Buf} = py_buffer:new(8),
    ok = py_buffer:write(Buf, <<"12345678">>),
    Self = self(),
    ok = py:register_function(view_check, fun([]) ->
                                                  Self ! {view_held, self(), py_buffer:write(Buf, <<"more">>)},
                                                  receive go_on -> ok end
                                          end),
    _ = spawn_link(fun() -> Self ! {result, call(Config, hold_view, [Buf, Self])} end),
    receive {<<"viewing">>, Seen} -> ?assertEqual(<<"12345678">>, Seen) after 30000 -> ct:fail(no_view) end,
    %% While Python holds a memoryview, growing (moving) the memory fails.
    Serving = receive {view_held, P, W} -> ?assertEqual({error, write_failed}, W), P
              after 30000 -> ct:fail(no_check)
              end,
    %% Let the callback return.
    Serving ! go_on,
    ?assertEqual({ok, 8}, result()),
    %% Released: it grows again.
    ?assertEqual(ok, py_buffer:write(Buf, <<"more">>)).

%%% ---------------------------------------------------------------------

bad_handles(_Config) ->
    ?assertError(badarg, py_channel:send(not_a_channel, 1)),
    ?assertError(badarg, py_channel:close(make_ref())),
    ?assertEqual({error, invalid_buffer}, py_buffer:write(make_ref(), <<"x">>)),
    {ok, Buf} = py_buffer:new(),
    ?assertEqual({error, invalid_data}, py_buffer:write(Buf, 42)),
    ok = py_buffer:close(Buf),
    ?assertEqual({error, closed}, py_buffer:write(Buf, <<"x">>)),
    ?assertMatch({error, {invalid_max_size, _}}, py_channel:new(#{max_size => -1})),
    %% A channel handle where Python expects something else.
    {ok, Ch} = py_channel:new(),
    ?assertMatch({error, {'TypeError', _}}, py:eval(<<"erlang.SharedDict(h)['k']">>, #{h => Ch})),
    ?assertMatch({error, {'TypeError', _}}, py:eval(<<"erlang.Channel(42).receive()">>)),
    %% The view type behind memoryview(PyBuffer) cannot be made from Python.
    ?assertMatch({error, {'TypeError', _}}, py:eval(<<"__import__('_erlang_channel')._BufferViewType()">>)),
    {ok, Buf2} = py_buffer:new(),
    ?assertMatch({error, {'TypeError', _}}, py:eval(<<"type(memoryview(b).obj)()">>, #{b => Buf2})).

info_and_options(_Config) ->
    {ok, Ch} = py_channel:new(#{max_size => 1000}),
    ok = py_channel:send(Ch, <<"abc">>),
    #{size := S, len := 1, max_size := 1000, closed := false} = py_channel:info(Ch),
    ?assert(S > 3),
    ok = py_channel:close(Ch),
    ok = py_channel:close(Ch),
    #{closed := true} = py_channel:info(Ch),
    {ok, BC} = py_byte_channel:new(),
    #{pending := 0} = py_byte_channel:info(BC).

init_per_testcase(_Case, Config) ->
    py_test_groups:context_for_case(Config, ?PY).
