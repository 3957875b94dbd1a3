//! The NIF links libpython without a baked-in path: `py_nif_loader`
//! (crates/py-nif-loader) opens the libpython chosen at run time first, and
//! this library's dependency on it is met by that one.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
