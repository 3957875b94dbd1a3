%% @private The NIF that opens libpython before `py_nif' loads (see
%% py_python and crates/py-nif-loader). Written by hand: one function.
-module(py_nif_loader).

-export([load_libpython/1]).

-on_load(load/0).

load() ->
    erlang:load_nif(filename:join(py_python:priv_dir(), "py_nif_loader"), 0).

%% dirty I/O scheduler
load_libpython(_Path) ->
    erlang:nif_error(nif_not_loaded).
