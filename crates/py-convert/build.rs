//! Emits the `Py_3_x` cfgs for the Python being built against and bakes the
//! libpython directory into test binaries so they run without LD_LIBRARY_PATH.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    pyo3_build_config::add_libpython_rpath_link_args();
}
