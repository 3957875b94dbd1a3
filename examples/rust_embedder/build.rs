//! Records libpython's directory in the binary (an rpath), so it runs
//! without LD_LIBRARY_PATH. The Python is the one PYO3_PYTHON names, as for
//! the crates themselves.
fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
}
