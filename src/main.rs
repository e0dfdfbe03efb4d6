fn main() -> std::process::ExitCode {
    mlbench::cli::main()
}
