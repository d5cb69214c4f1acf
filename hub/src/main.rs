//! `bangfu-hub`: the command line of a prefecture or province union's hub. The commands, their
//! arguments and what they print are in `bangfu_hub::cli`; the work is in the library.

fn main() -> std::process::ExitCode {
    bangfu_hub::cli::main()
}
