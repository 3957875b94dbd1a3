//! The atoms the NIF library returns, declared once.

rustler::atoms! {
    ok,
    error,
    not_running,
    context_stopped,
    not_stopped,
    bad_argument,
    timeout,
}
