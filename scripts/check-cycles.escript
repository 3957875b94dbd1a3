#!/usr/bin/env escript
%% Fails when the application's modules call each other in a circle:
%% builds the module call graph of the compiled beams with xref and prints
%% every strongly connected component of more than one module.
%%
%%   escript scripts/check-cycles.escript _build/default/lib/erlang_python/ebin
%%
%% One edge is left out, as docs/architecture.md explains: the generated
%% `py_nif' hands the C library's directly-called functions to
%% `py_nif_compat', a facade on top of everything.
-define(ALLOWED_EDGES, [{py_nif, py_nif_compat}]).

main([Ebin]) ->
    {ok, _} = xref:start(?MODULE),
    _ = xref:set_default(?MODULE, [{warnings, false}, {verbose, false}]),
    {ok, Mods} = xref:add_directory(?MODULE, Ebin),
    {ok, Edges} = xref:q(?MODULE, "ME"),
    Own = sets:from_list(Mods),
    G = digraph:new(),
    _ = [digraph:add_vertex(G, M) || M <- Mods],
    _ = [digraph:add_edge(G, A, B) || {A, B} <- Edges, A =/= B,
                                      sets:is_element(A, Own), sets:is_element(B, Own),
                                      not lists:member({A, B}, ?ALLOWED_EDGES)],
    case [lists:sort(C) || C <- digraph_utils:strong_components(G), length(C) > 1] of
        [] ->
            io:format("check-cycles: ~p modules, no circle among them~n", [length(Mods)]);
        Circles ->
            [io:format("check-cycles: modules calling each other in a circle: ~p~n", [C]) || C <- Circles],
            halt(1)
    end;
main(_) ->
    io:format(standard_error, "usage: check-cycles.escript EBIN_DIR~n", []),
    halt(2).
