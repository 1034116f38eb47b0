//! The README's command for running the reference backend, run as pasted (only the port and
//! the two paths under `target/` are swapped for a free port and a temporary directory):
//! the server starts, serves `examples/policy.json` signed by the key it logs, accepts the
//! token it was given and refuses any other, and keeps its signing key across restarts.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("server/ has a parent")
        .to_path_buf()
}

/// The arguments after `cargo run -p aparking-server --` in the README's one command.
fn readme_arguments() -> Vec<String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let prefix = "cargo run -p aparking-server -- --bind";
    let lines: Vec<&str> = readme.lines().filter(|l| l.starts_with(prefix)).collect();
    assert_eq!(
        lines.len(),
        1,
        "one copy-paste command in README.md: {lines:?}"
    );
    let args: Vec<String> = lines[0]
        .trim_start_matches("cargo run -p aparking-server --")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert!(
        args.iter().all(|a| !a.contains(['\'', '"', '\\', '$'])),
        "no shell quoting in the command, so that it runs as pasted: {args:?}"
    );
    args
}

/// The server process; killed when dropped.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Server {
    fn start(args: &[String]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_aparking-server"))
            .args(args)
            .current_dir(repo_root())
            .env("APARKING_SERVER_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("aparking-server starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Reads stderr until a line contains `marker`; the text after it.
    fn after(&mut self, marker: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if let Some((_, rest)) = line.split_once(marker) {
                        return rest.trim().to_owned();
                    }
                }
                Err(_) => panic!("no line with {marker:?}; stderr so far:\n{:#?}", self.log),
            }
        }
    }
}

/// A fresh directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "aparking-readme-command-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_readme_command_serves_the_signed_policy_and_accepts_its_token() {
    let temp = TempDir::new();
    let data_dir = temp.0.join("server-data");
    let key_file = temp.0.join("policy-key.der");
    let mut args = readme_arguments();
    for (flag, value) in [
        ("--bind", "127.0.0.1:0".to_owned()),
        ("--data-dir", data_dir.display().to_string()),
        ("--policy-key", key_file.display().to_string()),
    ] {
        let i = args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("the README's command has {flag}: {args:?}"));
        assert!(
            args[i + 1].starts_with("127.0.0.1:") || args[i + 1].starts_with("target/"),
            "loopback and paths under target/ only: {args:?}"
        );
        args[i + 1] = value;
    }
    let token_arg = &args[args.iter().position(|a| a == "--token").unwrap() + 1];
    let token = token_arg.split(':').next().unwrap().to_owned();

    let mut server = Server::start(&args);
    let public_key = server.after("policy manifests signed by Ed25519 public key");
    let base_url = server.after("listening on");
    let base_url = base_url.split_whitespace().next().unwrap().to_owned();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url}");

    // The served manifest is examples/policy.json, signed by the logged key.
    let http = reqwest::Client::new();
    let policy = http
        .get(format!("{base_url}/v1/policy"))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), 200);
    let signature = STANDARD
        .decode(
            policy.headers()[aparking_server::POLICY_SIGNATURE_HEADER]
                .to_str()
                .unwrap(),
        )
        .unwrap();
    let body = policy.bytes().await.unwrap();
    let key = STANDARD.decode(&public_key).unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &key)
        .verify(&body, &signature)
        .expect("the manifest verifies with the logged key");
    let served: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("examples/policy.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(served, file);

    // The token opens the account; another token does not.
    let pull = |bearer: &str| {
        http.get(format!("{base_url}/v1/sync/pull"))
            .bearer_auth(bearer)
            .send()
    };
    assert_eq!(pull(&token).await.unwrap().status(), 200);
    assert_eq!(pull("not-a-token").await.unwrap().status(), 401);

    // A restart with the same command keeps the signing key: the app's key stays valid.
    drop(server);
    let mut again = Server::start(&args);
    assert_eq!(
        again.after("policy manifests signed by Ed25519 public key"),
        public_key
    );
}
