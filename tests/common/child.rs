//! The child-process harness of the crash tests (`store_crash`, `sync_crash`,
//! `chaos_kill`).
//!
//! The test binary re-runs itself as a child that runs one named `#[ignore]`d test (its
//! role), configured by environment variables. The child reports to the parent on stdout,
//! one line per report ([`report`], [`ack`]); the parent ([`ChildCommand::run`]) reads the
//! reports as they arrive and kills the child with SIGKILL after a delay or after a number
//! of acknowledgements, always within a time limit. Only complete lines count: a report
//! cut off by the kill is dropped, so an operation is acknowledged only if its whole line
//! reached the pipe.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Marks a report line on the child's stdout (libtest may print its own text before it).
const MARK: &str = "@@child@@ ";
/// Bytes of the child's stderr kept for diagnostics (the end of it).
const STDERR_KEPT: usize = 32 * 1024;

/// In the child: sends one report line to the parent, flushed at once.
pub fn report(line: impl std::fmt::Display) {
    let text = format!("\n{MARK}{line}\n");
    assert!(
        !text[1..text.len() - 1].contains('\n'),
        "one line per report"
    );
    let out = std::io::stdout();
    let mut out = out.lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .expect("report to the parent");
}

/// In the child: acknowledges an operation (a report starting with `ACK `). Call it only
/// after the operation returned.
pub fn ack(what: impl std::fmt::Display) {
    report(format_args!("ACK {what}"));
}

/// The text of an acknowledgement report, if `report` is one.
pub fn acked(report: &str) -> Option<&str> {
    report.strip_prefix("ACK ")
}

/// When the parent kills the child.
#[derive(Debug, Clone, Copy)]
pub enum KillAt {
    /// This long after the spawn.
    Delay(Duration),
    /// `then` after the `acks`-th acknowledgement (or at the time limit).
    AfterAcks { acks: usize, then: Duration },
}

/// How a child run ended.
#[derive(Debug)]
pub struct ChildRun {
    /// Every complete report line, in order (without the marker).
    pub reports: Vec<String>,
    /// Whether the parent killed it (false: it exited by itself).
    pub killed: bool,
    /// Whether the kill came from the time limit rather than the `KillAt`.
    pub timed_out: bool,
    /// Its exit status.
    pub status: ExitStatus,
    /// The end of its stderr.
    pub stderr: String,
    /// From spawn to death.
    pub lifetime: Duration,
}

impl ChildRun {
    /// The acknowledgements, in order (the text after `ACK `).
    pub fn acks(&self) -> impl Iterator<Item = &str> {
        self.reports.iter().filter_map(|r| acked(r))
    }

    /// Panics (with the child's stderr) unless the parent killed the child.
    pub fn expect_killed(&self, context: &str) {
        assert!(
            self.killed,
            "{context}: the child exited by itself ({}) after {} reports; its stderr:\n{}",
            self.status,
            self.reports.len(),
            self.stderr
        );
    }
}

/// A child process: this test binary running the ignored test `role`.
#[derive(Debug, Clone)]
pub struct ChildCommand {
    role: String,
    env: Vec<(String, String)>,
    limit: Duration,
}

impl ChildCommand {
    /// A child running the test named `role` (exactly), killed at the latest after 20 s.
    pub fn new(role: &str) -> Self {
        ChildCommand {
            role: role.to_string(),
            env: Vec::new(),
            limit: Duration::from_secs(20),
        }
    }

    /// Sets an environment variable of the child.
    pub fn env(mut self, name: &str, value: impl ToString) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// The longest the child may live, whatever `KillAt` says.
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// Spawns the child, reads its reports as they arrive, kills it with SIGKILL as `kill`
    /// says (or at the time limit), and returns once it is dead and its output is read.
    pub fn run(&self, kill: KillAt) -> ChildRun {
        let started = Instant::now();
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--ignored",
                "--exact",
                &self.role,
                "--nocapture",
                "--test-threads=1",
            ])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("child starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    // A line without its newline was cut off by the kill: not a report.
                    Ok(0) | Err(_) => break,
                    Ok(_) if !line.ends_with('\n') => break,
                    Ok(_) => {
                        if let Some((_, report)) = line.split_once(MARK) {
                            if tx.send(report.trim_end().to_string()).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        });
        let stderr_reader = std::thread::spawn(move || {
            let mut kept: Vec<u8> = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * STDERR_KEPT {
                    kept.drain(..kept.len() - STDERR_KEPT);
                }
            }
            let from = kept.len().saturating_sub(STDERR_KEPT);
            String::from_utf8_lossy(&kept[from..]).into_owned()
        });

        let limit_at = started + self.limit;
        let mut reports = Vec::new();
        let mut acks = 0usize;
        let mut kill_at = match kill {
            KillAt::Delay(d) => Some(started + d),
            KillAt::AfterAcks { acks: 0, then } => Some(started + then),
            KillAt::AfterAcks { .. } => None,
        };
        let mut exited = false;
        let mut timed_out = false;
        loop {
            let now = Instant::now();
            let deadline = kill_at.unwrap_or(limit_at).min(limit_at);
            if now >= deadline {
                timed_out = match kill_at {
                    None => true,
                    Some(k) => k > limit_at,
                };
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok(report) => {
                    if acked(&report).is_some() {
                        acks += 1;
                        if let KillAt::AfterAcks { acks: n, then } = kill {
                            if acks == n {
                                kill_at = Some(Instant::now() + then);
                            }
                        }
                    }
                    reports.push(report);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    exited = true;
                    break;
                }
            }
        }
        // SIGKILL on Unix. An error means it is already dead (exited by itself).
        let killed = !exited && child.kill().is_ok();
        let status = child.wait().expect("wait for the child");
        let lifetime = started.elapsed();
        reader.join().expect("stdout reader");
        reports.extend(rx.try_iter());
        let stderr = stderr_reader.join().expect("stderr reader");
        ChildRun {
            reports,
            killed: killed && !status.success(),
            timed_out: killed && timed_out,
            status,
            stderr,
            lifetime,
        }
    }
}

/// A small deterministic generator (xorshift64*), for kill points and operation mixes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Self {
        Rng(splitmix(seed) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in `from..=to` milliseconds.
    pub fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from + 1))
    }
}

/// SplitMix64: spreads a seed (or a seed plus a counter) over 64 bits.
pub fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed from the clock, for runs without a fixed one; `APARKING_TEST_SEED` replays a
/// printed one.
pub fn clock_seed() -> u64 {
    if let Some(seed) = std::env::var("APARKING_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return seed;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}
