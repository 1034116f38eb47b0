//! `aparking-server`: the reference backend as a standalone program.
//!
//! ```text
//! aparking-server [--bind 127.0.0.1:8787] [--data-dir ./server-data] [--policy policy.json]
//!                 [--token TOKEN[:ACCOUNT]]... [--tls-cert CHAIN.pem --tls-key KEY.pem]
//! ```
//! Runs until Ctrl-C (SIGINT), then shuts down gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use aparking_server::{validate_policy_manifest, ReferenceServer, ServerConfig, TlsConfig};

const USAGE: &str = "\
Usage: aparking-server [--bind ADDR] [--data-dir DIR] [--policy FILE] [--policy-key FILE] [--new-generation] [--token TOKEN[:ACCOUNT]]...
                       [--tls-cert CHAIN.pem --tls-key KEY.pem]

  --bind ADDR      address to listen on (default 127.0.0.1:8787)
  --data-dir DIR   directory of the SQLite store, created if missing (default ./server-data)
  --policy FILE    policy manifest JSON served on GET /v1/policy (default: none, 404)
  --policy-key FILE  Ed25519 key (PKCS#8 DER) signing the served manifest; created when
                   missing (default: a new key each start). The public key is logged.
  --new-generation the data dir was restored from a backup: give the dataset a new
                   generation id, so that every client reconciles with it
  --token TOKEN[:ACCOUNT]
                   accept `Authorization: Bearer TOKEN` on /v1/sync/* and /v1/account, for
                   account ACCOUNT (created if new). Without ACCOUNT: the account the token
                   already reaches in the store, else a new one (its id is logged).
                   Repeatable; tokens are stored as SHA-256 hashes only.
  --tls-cert FILE  serve HTTPS with this PEM certificate chain (with --tls-key); the SDK
                   needs HTTPS for any address but loopback
  --tls-key FILE   the PEM private key of --tls-cert
  -h, --help       print this help
  -V, --version    print the version

Logs one line per request on stderr; APARKING_SERVER_LOG=warn|info|debug sets the level.";

struct Args {
    bind: SocketAddr,
    data_dir: PathBuf,
    policy: Option<PathBuf>,
    /// (token, account) pairs from `--token`.
    tokens: Vec<(String, Option<String>)>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    policy_key: Option<PathBuf>,
    new_generation: bool,
}

enum Parsed {
    Run(Args),
    Exit(&'static str),
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut parsed = Args {
        bind: SocketAddr::from(([127, 0, 0, 1], 8787)),
        data_dir: PathBuf::from("./server-data"),
        policy: None,
        tokens: Vec::new(),
        tls_cert: None,
        tls_key: None,
        policy_key: None,
        new_generation: false,
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--bind" => {
                parsed.bind = value("--bind")?
                    .parse()
                    .map_err(|_| "--bind: expected IP:PORT, e.g. 127.0.0.1:8787".to_owned())?
            }
            "--data-dir" => parsed.data_dir = PathBuf::from(value("--data-dir")?),
            "--policy" => parsed.policy = Some(PathBuf::from(value("--policy")?)),
            "--token" => parsed.tokens.push(parse_token(&value("--token")?)?),
            "--tls-cert" => parsed.tls_cert = Some(PathBuf::from(value("--tls-cert")?)),
            "--tls-key" => parsed.tls_key = Some(PathBuf::from(value("--tls-key")?)),
            "--policy-key" => parsed.policy_key = Some(PathBuf::from(value("--policy-key")?)),
            "--new-generation" => parsed.new_generation = true,
            "-h" | "--help" => return Ok(Parsed::Exit(USAGE)),
            "-V" | "--version" => {
                return Ok(Parsed::Exit(concat!(
                    "aparking-server ",
                    env!("CARGO_PKG_VERSION")
                )))
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    if parsed.tls_cert.is_some() != parsed.tls_key.is_some() {
        return Err("--tls-cert and --tls-key go together".to_owned());
    }
    Ok(Parsed::Run(parsed))
}

/// `TOKEN[:ACCOUNT]`; a bearer token has no `:` or white space. Errors never repeat the
/// token.
fn parse_token(arg: &str) -> Result<(String, Option<String>), String> {
    let (token, account) = match arg.split_once(':') {
        Some((t, a)) => (t, Some(a)),
        None => (arg, None),
    };
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("--token: the token must be non-empty, without spaces".to_owned());
    }
    if account.is_some_and(|a| a.trim().is_empty() || a.chars().any(char::is_control)) {
        return Err("--token: the account after ':' must be non-empty".to_owned());
    }
    Ok((token.to_owned(), account.map(str::to_owned)))
}

/// Minimal stderr logger: `LEVEL target: message`.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) && record.target().starts_with("aparking_server") {
            eprintln!("{:<5} {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

fn run(args: Args) -> Result<(), String> {
    let policy = match &args.policy {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--policy {}: {e}", path.display()))?;
            let manifest: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("--policy {}: not JSON: {e}", path.display()))?;
            validate_policy_manifest(&manifest)
                .map_err(|e| format!("--policy {}: {e}", path.display()))?;
            Some(manifest)
        }
    };
    let read = |flag: &str, path: &PathBuf| {
        std::fs::read_to_string(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsConfig {
            cert_chain_pem: read("--tls-cert", cert)?,
            private_key_pem: read("--tls-key", key)?,
        }),
        _ => None,
    };
    let policy_signing_key_pkcs8 = match &args.policy_key {
        None => None,
        Some(path) if path.exists() => {
            Some(std::fs::read(path).map_err(|e| format!("--policy-key {}: {e}", path.display()))?)
        }
        Some(path) => {
            let key = aparking_server::generate_policy_signing_key().map_err(|e| e.to_string())?;
            std::fs::write(path, &key)
                .map_err(|e| format!("--policy-key {}: {e}", path.display()))?;
            Some(key)
        }
    };
    let config = ServerConfig {
        bind: args.bind,
        data_dir: Some(args.data_dir),
        policy,
        tls,
        policy_signing_key_pkcs8,
        ..ServerConfig::default()
    };
    let server = ReferenceServer::start(config).map_err(|e| e.to_string())?;
    if args.new_generation {
        log::info!(
            "data declared restored: generation {}",
            server.start_new_generation()
        );
    }
    for (i, (token, account)) in args.tokens.iter().enumerate() {
        let account = match account {
            Some(a) => {
                server.add_token(a, token);
                a.clone()
            }
            None => server
                .account_for_token(token)
                .unwrap_or_else(|| server.add_account(token)),
        };
        log::info!("--token #{}: account {account}", i + 1);
    }
    log::info!(
        "policy manifests signed by Ed25519 public key {}",
        server.policy_public_key()
    );
    log::info!(
        "aparking-server {} listening on {} (data in {})",
        env!("CARGO_PKG_VERSION"),
        server.base_url(),
        server.data_dir().display()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(tokio::signal::ctrl_c())
        .map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    log::info!("shutting down");
    server.shutdown();
    Ok(())
}

fn main() -> ExitCode {
    let level = match std::env::var("APARKING_SERVER_LOG").as_deref() {
        Ok("error") => log::LevelFilter::Error,
        Ok("warn") => log::LevelFilter::Warn,
        Ok("debug") => log::LevelFilter::Debug,
        Ok("off") => log::LevelFilter::Off,
        _ => log::LevelFilter::Info,
    };
    if log::set_logger(&StderrLogger).is_ok() {
        log::set_max_level(level);
    }
    let result = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Exit(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(args)) => run(args),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aparking-server: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn token_flags_are_repeatable() {
        let Ok(Parsed::Run(a)) = parse(&["--token", "t1", "--token=t2:acc-7", "--token", "t3=="])
        else {
            panic!("not parsed");
        };
        assert_eq!(
            a.tokens,
            [
                ("t1".to_owned(), None),
                ("t2".to_owned(), Some("acc-7".to_owned())),
                ("t3==".to_owned(), None)
            ]
        );
        for bad in [
            &["--token"][..],
            &["--token", ""],
            &["--token", "t:"],
            &["--token", "a b"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
