//! The `meshrender` binary: a thin shell around `meshrender::cli`.

/// mimalloc, not glibc's malloc: rendering allocates and frees many small strings and values
/// on the render thread, which glibc serves from a second arena (malloc, free and their
/// consolidation were a fifth of that thread's time in a 10-cluster `check`). Only the
/// binary sets it; the library leaves the choice to whoever links it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
