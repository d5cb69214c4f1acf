//! `bangfu-hub`: the command line of a prefecture or province union's hub. The commands, their
//! arguments and what they print are in `bangfu_hub::cli`; the work is in the library.

/// mimalloc rather than glibc's malloc: the intake allocates and frees a parsed report per post
/// from every worker thread, and glibc's arenas were 18% of the hub's time under
/// `bench/hub_ingest.sh` (docs/decisions.md, "The hub's allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    bangfu_hub::cli::main()
}
