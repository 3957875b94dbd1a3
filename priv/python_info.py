"""Prints, as an Erlang term, what the NIF needs to know about the Python
running this script: its version, executable and shared libpython. Used at
build time (priv/python.config) and at run time by py_python to inspect a
Python chosen by the user."""
import os
import sys
import sysconfig


def quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


soname = sysconfig.get_config_var("INSTSONAME") or sysconfig.get_config_var("LDLIBRARY") or ""
shared = bool(sysconfig.get_config_var("Py_ENABLE_SHARED"))
# A Python moved to another prefix still reports the LIBDIR it was built
# with: look under the prefix it runs from first.
candidates = [
    os.path.join(sys.base_prefix, "lib", soname),
    os.path.join(sys.base_prefix, "lib", sysconfig.get_config_var("MULTIARCH") or "", soname),
    os.path.join(sysconfig.get_config_var("LIBDIR") or "", soname),
]
libpython = next((c for c in candidates if soname and os.path.isfile(c)), candidates[-1])
print("#{version => %s, executable => %s, libpython => %s, shared => %s, prefix => %s}." % (
    quote("%d.%d" % sys.version_info[:2]),
    quote(sys.executable),
    quote(libpython),
    "true" if shared else "false",
    quote(sys.prefix),
))
