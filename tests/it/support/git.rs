//! Temporary git repositories driven through the `git` program, with a fixed identity and pinned,
//! increasing commit dates, so that every run makes the same commits.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use tempfile::TempDir;

/// Runs git in `dir` with no user or system configuration and a fixed identity.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = git_command(dir).args(args).output().expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_string()
}

pub fn git_command(dir: &Path) -> Command {
    static CLOCK: AtomicU64 = AtomicU64::new(0);
    let tick = CLOCK.fetch_add(1, Ordering::Relaxed);
    let date = format!("{} +0000", 1_700_000_000 + tick * 60);
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
            "-c",
            "advice.detachedHead=false",
        ]);
    cmd
}

/// A repository in a temporary directory that goes away with it.
pub struct TestRepo {
    _tmp: TempDir,
    pub dir: PathBuf,
}

impl TestRepo {
    /// An empty repository on `main`.
    pub fn new() -> TestRepo {
        let tmp = tempfile::Builder::new()
            .prefix("shipit-it")
            .tempdir()
            .unwrap();
        let dir = tmp.path().join("repo");
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q", "-b", "main"]);
        TestRepo { _tmp: tmp, dir }
    }

    /// A repository with `ci.toml` and a file in each directory it names, committed on `main`.
    pub fn with_config(ci_toml: &str, dirs: &[&str]) -> TestRepo {
        let repo = TestRepo::new();
        repo.write("ci.toml", ci_toml);
        for d in dirs {
            repo.write(&format!("{d}/README.txt"), d);
        }
        repo.commit("initial import");
        repo
    }

    /// A second directory next to the repository (for clones and origins).
    pub fn sibling(&self, name: &str) -> PathBuf {
        self.dir.parent().unwrap().join(name)
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.dir, args)
    }

    pub fn write(&self, path: &str, contents: &str) {
        let full = self.dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
    }

    pub fn remove(&self, path: &str) {
        self.git(&["rm", "-q", "-r", "--", path]);
    }

    /// Commits everything in the working tree; returns the new commit's SHA.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    /// Writes one file and commits it.
    pub fn change(&self, path: &str, contents: &str, message: &str) -> String {
        self.write(path, contents);
        self.commit(message)
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn rev(&self, rev: &str) -> String {
        self.git(&["rev-parse", rev])
    }

    /// The file URL of this repository, for cloning.
    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    /// Clones this repository next to it with extra `git clone` arguments.
    pub fn clone_to(&self, name: &str, args: &[&str]) -> PathBuf {
        let target = self.sibling(name);
        let mut all = vec!["clone", "-q"];
        all.extend_from_slice(args);
        let url = self.url();
        all.push(&url);
        let target_s = target.display().to_string();
        all.push(&target_s);
        git(self.dir.parent().unwrap(), &all);
        target
    }
}

/// `git daemon` serving one directory's repositories over git:// on a free loopback port: a smart
/// protocol transport, as GitHub's is, for the fetches shipit makes through libgit2.
pub struct Daemon {
    child: Child,
    pub port: u16,
}

impl Daemon {
    pub fn serve(base: &Path) -> Daemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
                "--enable=upload-pack",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        // Built before waiting, so that a daemon that never answers is killed when this panics.
        let daemon = Daemon { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return daemon;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("git daemon did not start on port {port}");
    }

    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
