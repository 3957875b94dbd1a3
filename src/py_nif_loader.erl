%% @private The NIF that opens libpython before `py_nif' loads (see
%% py_python and crates/py-nif-loader). Written by hand: one function.
-module(py_nif_loader).

-export([load/0, load_libpython/1]).

%% Loaded explicitly (py_python:prepare/0), not on load: in a release's
%% embedded mode modules load before the application can say where priv is.
load() ->
    case erlang:load_nif(filename:join(py_python:priv_dir(), "py_nif_loader"), 0) of
        {error, {reload, _}} -> ok;
        Other -> Other
    end.

%% dirty I/O scheduler
load_libpython(_Path) ->
    erlang:nif_error(nif_not_loaded).
