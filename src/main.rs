fn main() -> std::process::ExitCode {
    shipit::main()
}

/// jemalloc instead of glibc's malloc. Most of a large `shipit affected` is small allocations
/// (ci.toml parsed and resolved, globs compiled, paths listed) into fresh memory, and each fresh
/// 4 KiB page costs a page fault: 2,700 of them on the benchmark's monorepo, a fifth of its time.
/// jemalloc backs its memory with transparent huge pages where the system allows it (`thp`), and
/// the same run takes 1,600. (`shipit-bench-affected`)
#[cfg(unix)]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once when it starts.
#[cfg(unix)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: &[u8] = b"thp:always,metadata_thp:auto\0";
