//! The `meshrender` binary: a thin shell around `meshrender::cli`.

fn main() {
    // `meshrender diff | head` must end quietly when `head` closes the pipe, as every Unix
    // tool does, instead of panicking on the failed write (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: called first thing, before any thread exists; restores the default action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(meshrender::cli::main());
}
