%% @doc Bytes streamed from Erlang into a file-like Python object.
%%
%% Erlang appends with `write/2' and ends with `close/1'; passed to Python
%% the buffer is an `erlang.PyBuffer': `read(n)' (waits for n bytes or the
%% end, without holding the GIL), `read_nonblock', `readline', `readlines',
%% line iteration, `seek'/`tell', `find', and the buffer protocol
%% (`memoryview(buf)', no copy). A write that would have to move memory a
%% Python memoryview still holds fails with `{error, write_failed}'; give
%% `new/1' the expected length to avoid moving at all.
-module(py_buffer).

-export([new/0, new/1, write/2, close/1]).

-type buffer() :: reference().

%% @doc A buffer of unknown length.
-spec new() -> {ok, buffer()}.
new() ->
    new(undefined).

%% @doc A buffer with room for `ContentLength' bytes (a hint, not a limit).
-spec new(non_neg_integer() | undefined) -> {ok, buffer()} | {error, term()}.
new(undefined) ->
    py_nif:buffer_new(0);
new(Length) when is_integer(Length), Length >= 0 ->
    py_nif:buffer_new(Length);
new(Other) ->
    {error, {invalid_length, Other}}.

%% @doc Appends `Data'.
-spec write(buffer(), iodata()) -> ok | {error, invalid_buffer | invalid_data | closed | write_failed}.
write(Buffer, Data) when is_binary(Data) ->
    py_nif:buffer_write(Buffer, Data);
write(Buffer, Data) when is_list(Data) ->
    try iolist_to_binary(Data) of
        Bin -> write(Buffer, Bin)
    catch
        error:badarg -> {error, invalid_data}
    end;
write(_Buffer, _Data) ->
    {error, invalid_data}.

%% @doc End of data: readers get what is left, then `b""'. Idempotent.
-spec close(buffer()) -> ok.
close(Buffer) ->
    py_nif:buffer_close(Buffer).
