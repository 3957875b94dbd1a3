//! The NIF links libpython: bake its directory into the library (rpath) so
//! the BEAM finds it without LD_LIBRARY_PATH, and expose the Python cfgs.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    pyo3_build_config::add_libpython_rpath_link_args();
}
