fn main() -> std::process::ExitCode {
    // glibc grows its heaps a page or so at a time: loading a ci.toml of a thousand services on a
    // second thread took 670 `mprotect` calls. Growing by 16 MiB at a time (address space, not
    // memory: pages are only touched as they are used) takes ten. (`shipit-bench-affected`)
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
    }
    shipit::main()
}
