#!/usr/bin/env escript
%% package.escript OUTDIR FILE...: writes OUTDIR/erlang_python-VSN.tar in
%% the hex tarball format (version 3): VERSION, metadata.config,
%% contents.tar.gz and CHECKSUM, the SHA-256 of the first three.
main([Out | Files]) ->
    {ok, [{application, erlang_python, App}]} = file:consult("src/erlang_python.app.src"),
    Vsn = proplists:get_value(vsn, App),
    Meta = [{<<"name">>, <<"erlang_python">>},
            {<<"app">>, <<"erlang_python">>},
            {<<"version">>, list_to_binary(Vsn)},
            {<<"description">>, list_to_binary(proplists:get_value(description, App))},
            {<<"licenses">>, [list_to_binary(L) || L <- proplists:get_value(licenses, App)]},
            {<<"links">>, []},
            {<<"requirements">>, []},
            {<<"build_tools">>, [<<"rebar3">>]},
            {<<"files">>, [list_to_binary(F) || F <- Files]}],
    MetaBin = iolist_to_binary([io_lib:format("~tp.~n", [T]) || T <- Meta]),
    ContentsFile = filename:join(Out, "contents.tar.gz"),
    ok = erl_tar:create(ContentsFile, Files, [compressed]),
    {ok, Contents} = file:read_file(ContentsFile),
    ok = file:delete(ContentsFile),
    Version = <<"3">>,
    Checksum = binary:encode_hex(crypto:hash(sha256, [Version, MetaBin, Contents])),
    Tar = filename:join(Out, "erlang_python-" ++ Vsn ++ ".tar"),
    ok = erl_tar:create(Tar, [{"VERSION", Version}, {"CHECKSUM", Checksum},
                              {"metadata.config", MetaBin}, {"contents.tar.gz", Contents}]),
    io:format("~s (~p files)~n", [Tar, length(Files)]).
