//! Emits the `Py_3_x` cfgs for the Python being built against, bakes the
//! libpython directory into test binaries so they run without
//! LD_LIBRARY_PATH, and refuses a Python older than the oldest supported.
fn main() {
    const MINIMUM: (u8, u8) = (3, 11);
    let config = pyo3_build_config::get();
    let found = (config.version().major, config.version().minor);
    if found < MINIMUM {
        eprintln!(
            "error: erlang_python needs Python {}.{} or newer (3.12+ for own-GIL contexts); \
             this build found Python {}.{}{}. Set PYO3_PYTHON to a newer python executable.",
            MINIMUM.0,
            MINIMUM.1,
            found.0,
            found.1,
            config.executable().map(|e| format!(" at {e}")).unwrap_or_default()
        );
        std::process::exit(1);
    }
    if found < (3, 12) {
        println!(
            "cargo:warning=building against Python {}.{}: worker contexts only (own-GIL contexts need 3.12+)",
            found.0, found.1
        );
    }
    pyo3_build_config::use_pyo3_cfgs();
    pyo3_build_config::add_libpython_rpath_link_args();
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
