//! Running the command-line crate's binaries from its tests.

/// Runs the `voxload` binary: whether it succeeded, and its stdout then stderr.
pub fn run_voxload(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_voxload"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// How a binary run under [`run_bounded`] ended.
#[derive(Debug)]
pub struct Bounded {
    /// The exit code; `None` when a signal ended the process (an abort, or the deadline).
    pub code: Option<i32>,
    /// Whether the deadline killed it.
    pub timed_out: bool,
    /// Its stdout, then its stderr.
    pub text: String,
}

impl Bounded {
    /// Asserts a clean failure: exit code 2 or 1 (not a signal, not a timeout), no panic, no
    /// aborted allocation, and the message contains every one of `names`.
    pub fn assert_clean_error(&self, names: &[&str]) {
        assert!(
            !self.timed_out,
            "still running at the deadline: {}",
            self.text
        );
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a failing exit code, got {:?}: {}",
            self.code,
            self.text
        );
        assert!(!self.text.contains("panicked"), "{}", self.text);
        assert!(!self.text.contains("memory allocation"), "{}", self.text);
        for name in names {
            assert!(
                self.text.contains(name),
                "`{name}` not named in: {}",
                self.text
            );
        }
    }
}

/// Runs one of the crate's binaries (`voxload` or `ingest`) with `args` under an address-space
/// limit of `mem_mib` MiB (so an absurd allocation aborts it) and a deadline of `secs` seconds
/// (after which it is killed), with stdin closed.
pub fn run_bounded(bin: &str, args: &[&str], mem_mib: u64, secs: u64) -> Bounded {
    let exe = match bin {
        "voxload" => env!("CARGO_BIN_EXE_voxload"),
        "ingest" => env!("CARGO_BIN_EXE_ingest"),
        other => panic!("unknown binary {other}"),
    };
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {} && exec \"$0\" \"$@\"",
            mem_mib * 1024
        ))
        .arg(exe)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut timed_out = false;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            timed_out = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Bounded {
        code: out.status.code(),
        timed_out,
        text,
    }
}
