//! Python cfgs, the libpython rpath for test binaries, and the path of the
//! Python executable we build against (the default `sys.executable`).
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    pyo3_build_config::add_libpython_rpath_link_args();
    let config = pyo3_build_config::get();
    if let Some(exe) = config.executable() {
        println!("cargo:rustc-env=PY_CORE_BUILD_EXECUTABLE={exe}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
