%% @private The NIF that opens libpython before `py_nif' loads (see
%% py_python and crates/py-nif-loader). Written by hand: one function.
-module(py_nif_loader).

-export([load/0, load_libpython/1, priv_dir/0]).

%% Loaded explicitly (py_python:prepare/0), not on load: in a release's
%% embedded mode modules load before the application can say where priv is.
load() ->
    case erlang:load_nif(filename:join(priv_dir(), "py_nif_loader"), 0) of
        {error, {reload, _}} -> ok;
        Other -> Other
    end.

%% The application's priv directory (also outside a release), where both
%% NIF libraries and the build's python.config live.
priv_dir() ->
    case code:priv_dir(erlang_python) of
        {error, bad_name} -> filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
        Dir -> Dir
    end.

%% dirty I/O scheduler
load_libpython(_Path) ->
    erlang:nif_error(nif_not_loaded).
