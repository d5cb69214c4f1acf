//! `bangfu-node`: the command line of a county union's node. The commands, their arguments and what
//! they print are in `bangfu_node::cli`; the work is in the library.

fn main() -> std::process::ExitCode {
    bangfu_node::cli::main()
}
