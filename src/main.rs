fn main() -> std::process::ExitCode {
    shipit::main()
}
