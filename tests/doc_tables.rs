//! Keeps the OWASP MASVS v2 table of `docs/security.md` true (issue #6): every control is
//! listed once with a known status, every row that claims the SDK meets a control cites
//! code and a test, and every cited file, symbol and test function exists.
//!
//! References are the code spans of the table's *code* and *test* columns:
//! - a repository path, optionally followed by `::` and a symbol path:
//!   `src/crypto/keys.rs::DataKey::wrap`, `tests/store_keys.rs::kek_rotation_rewraps_the_data_key`,
//!   `tests/packaging.sh::same_min_sdk`, `deny.toml`;
//! - a Kotlin test, ``KeysTest.`a test name` `` or `SmokeTest.name`, in
//!   `bindings/kotlin/src/test/kotlin/kz/aparking/core/<Class>.kt`.
//!
//! A Rust symbol must be defined in the file (`fn`, `struct`, `enum`, `trait`, `type`,
//! `const`, `static`, `mod`; a type may also be named by an `impl` line); a Rust test is a
//! `fn` of that name, a Kotlin test a ``fun `name` `` or `fun name(`, a shell test a function
//! `name()`. Rows carrying the TODO-PINNING marker are skipped. No dependencies: plain std.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const DOC: &str = "docs/security.md";
const SECTION: &str = "## OWASP MASVS v2 controls";
const KOTLIN_TESTS: &str = "bindings/kotlin/src/test/kotlin/kz/aparking/core";
const TODO_MARKER: &str = "TODO-PINNING";

/// Every control of MASVS v2.1.
const CONTROLS: &[&str] = &[
    "MASVS-STORAGE-1",
    "MASVS-STORAGE-2",
    "MASVS-CRYPTO-1",
    "MASVS-CRYPTO-2",
    "MASVS-AUTH-1",
    "MASVS-AUTH-2",
    "MASVS-AUTH-3",
    "MASVS-NETWORK-1",
    "MASVS-NETWORK-2",
    "MASVS-PLATFORM-1",
    "MASVS-PLATFORM-2",
    "MASVS-PLATFORM-3",
    "MASVS-CODE-1",
    "MASVS-CODE-2",
    "MASVS-CODE-3",
    "MASVS-CODE-4",
    "MASVS-RESILIENCE-1",
    "MASVS-RESILIENCE-2",
    "MASVS-RESILIENCE-3",
    "MASVS-RESILIENCE-4",
    "MASVS-PRIVACY-1",
    "MASVS-PRIVACY-2",
    "MASVS-PRIVACY-3",
    "MASVS-PRIVACY-4",
];

/// The statuses a row may have.
const STATUSES: &[&str] = &[
    "SDK",
    "SDK + host app",
    "partly",
    "host app",
    "n/a",
    TODO_MARKER,
];

/// Statuses that claim the SDK meets (part of) the control: such a row must cite code and a
/// test.
const CLAIMS: &[&str] = &["SDK", "SDK + host app", "partly"];

/// File name endings a path reference may have.
const EXTENSIONS: &[&str] = &[
    "rs", "kt", "kts", "sh", "sql", "md", "toml", "lock", "xml", "swift", "yaml", "json",
];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One row of the MASVS table.
#[derive(Debug)]
struct Row {
    line: usize,
    control: String,
    status: String,
    code: String,
    test: String,
    raw: String,
}

impl Row {
    fn at(&self) -> String {
        format!("{DOC}:{} ({})", self.line, self.control)
    }
}

/// A reference found in the code or test column.
#[derive(Debug, PartialEq)]
enum Ref {
    /// A repository path and the symbol path after `::` (may be empty).
    Path { path: String, symbols: Vec<String> },
    /// A Kotlin test class in [`KOTLIN_TESTS`] and a test name.
    Kotlin { class: String, name: String },
}

impl std::fmt::Display for Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ref::Path { path, symbols } if symbols.is_empty() => write!(f, "{path}"),
            Ref::Path { path, symbols } => write!(f, "{path}::{}", symbols.join("::")),
            Ref::Kotlin { class, name } => write!(f, "{class}.`{name}`"),
        }
    }
}

/// The contents of the inline code spans of `cell` (CommonMark: a run of N backticks up to
/// the next run of exactly N; one space stripped from each side when both are there).
fn code_spans(cell: &str) -> Vec<String> {
    let b = cell.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'`' {
            i += 1;
            continue;
        }
        let open = i;
        while i < b.len() && b[i] == b'`' {
            i += 1;
        }
        let n = i - open;
        let mut j = i;
        let mut close = None;
        while j < b.len() {
            if b[j] == b'`' {
                let s = j;
                while j < b.len() && b[j] == b'`' {
                    j += 1;
                }
                if j - s == n {
                    close = Some((s, j));
                    break;
                }
            } else {
                j += 1;
            }
        }
        let Some((s, e)) = close else {
            break; // an unmatched run is literal text
        };
        let mut content = &cell[i..s];
        if content.len() >= 2 && content.starts_with(' ') && content.ends_with(' ') {
            content = &content[1..content.len() - 1];
        }
        out.push(content.to_string());
        i = e;
    }
    out
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Parses one code span as a reference; `None` when it is not one.
fn parse_ref(span: &str) -> Option<Ref> {
    // Kotlin: Class.`name with spaces` or Class.name
    if let Some((class, rest)) = span.split_once('.') {
        if is_ident(class) && (class.ends_with("Test") || class.ends_with("Benchmark")) {
            let name = if rest.len() > 2 && rest.starts_with('`') && rest.ends_with('`') {
                &rest[1..rest.len() - 1]
            } else {
                rest
            };
            if (is_ident(rest) || rest.starts_with('`')) && !name.contains('`') {
                return Some(Ref::Kotlin {
                    class: class.to_string(),
                    name: name.to_string(),
                });
            }
        }
    }
    let mut parts = span.split("::");
    let path = parts.next()?;
    let symbols: Vec<String> = parts.map(str::to_string).collect();
    let path_ok = !path.starts_with('/')
        && !path.split('/').any(|c| c.is_empty() || c == "..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && path
            .rsplit_once('.')
            .is_some_and(|(_, ext)| EXTENSIONS.contains(&ext));
    if !path_ok || !symbols.iter().all(|s| is_ident(s)) {
        return None;
    }
    Some(Ref::Path {
        path: path.to_string(),
        symbols,
    })
}

/// Whether `text` has `keyword name` with `name` ending at a word boundary (and the keyword
/// starting at one).
fn has_item(text: &str, keyword: &str, name: &str) -> bool {
    let needle = format!("{keyword} {name}");
    text.match_indices(&needle)
        .any(|(at, _)| word_bounded(text, at, needle.len()))
}

/// Whether `text[at..at + len]` is neither preceded nor followed by an identifier character.
fn word_bounded(text: &str, at: usize, len: usize) -> bool {
    let before = !matches!(text[..at].chars().next_back(), Some(c) if is_ident_char(c));
    let after = !matches!(text[at + len..].chars().next(), Some(c) if is_ident_char(c));
    before && after
}

fn has_word(line: &str, name: &str) -> bool {
    line.match_indices(name)
        .any(|(at, _)| word_bounded(line, at, name.len()))
}

const RUST_ITEMS: &[&str] = &[
    "fn", "struct", "enum", "trait", "type", "const", "static", "mod",
];

/// A Rust item (or a type named by an `impl` line) called `name`.
fn rust_defines(text: &str, name: &str) -> bool {
    RUST_ITEMS.iter().any(|k| has_item(text, k, name))
        || text.lines().any(|l| {
            let l = l.trim_start();
            (l.starts_with("impl ") || l.starts_with("impl<")) && has_word(l, name)
        })
}

fn kotlin_has_test(text: &str, name: &str) -> bool {
    text.contains(&format!("fun `{name}`")) || (is_ident(name) && has_item(text, "fun", name))
}

fn shell_has_function(text: &str, name: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start();
        l.strip_prefix(name)
            .is_some_and(|rest| rest.trim_start().starts_with("()"))
            || l.strip_prefix("function ")
                .and_then(|rest| rest.strip_prefix(name))
                .is_some_and(|rest| rest.is_empty() || !rest.starts_with(is_ident_char))
    })
}

/// Which column a reference was found in.
#[derive(Clone, Copy, PartialEq)]
enum Column {
    Code,
    Test,
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Code => "code",
            Column::Test => "test",
        }
    }
}

/// Checks one reference against the files under `root`; the problem, if any.
fn check_ref(root: &Path, r: &Ref, column: Column) -> Option<String> {
    let (file, symbols): (PathBuf, Vec<String>) = match r {
        Ref::Path { path, symbols } => (root.join(path), symbols.clone()),
        Ref::Kotlin { class, name } => (
            root.join(KOTLIN_TESTS).join(format!("{class}.kt")),
            vec![name.clone()],
        ),
    };
    let shown = file
        .strip_prefix(root)
        .unwrap_or(&file)
        .display()
        .to_string();
    if !file.is_file() {
        return Some(format!("{r}: no file {shown}"));
    }
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    if column == Column::Test && !matches!(ext, "rs" | "kt" | "sh") {
        return Some(format!(
            "{r} is not a test: the test column cites Rust or Kotlin tests or shell scripts"
        ));
    }
    if column == Column::Test && matches!(ext, "rs" | "kt") && symbols.is_empty() {
        return Some(format!("{r}: name the test function (`{shown}::name`)"));
    }
    if symbols.is_empty() {
        return None;
    }
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => return Some(format!("{r}: cannot read {shown}: {e}")),
    };
    let last = symbols.last().expect("not empty");
    match ext {
        "rs" => {
            for (i, s) in symbols.iter().enumerate() {
                let is_last = i + 1 == symbols.len();
                let found = if is_last && column == Column::Test {
                    has_item(&text, "fn", s)
                } else if is_last {
                    rust_defines(&text, s)
                } else {
                    // A module or type that contains the next segment.
                    s == "tests" || rust_defines(&text, s)
                };
                if !found {
                    let what = if is_last && column == Column::Test {
                        format!("no fn {s}")
                    } else {
                        format!("no item {s}")
                    };
                    return Some(format!("{r}: {what} in {shown}"));
                }
            }
            None
        }
        "kt" | "kts" => (!kotlin_has_test(&text, last)).then(|| {
            if is_ident(last) {
                format!("{r}: no fun `{last}` nor fun {last}( in {shown}")
            } else {
                format!("{r}: no fun `{last}` in {shown}")
            }
        }),
        "sh" => (!shell_has_function(&text, last))
            .then(|| format!("{r}: no shell function {last}() in {shown}")),
        _ => Some(format!(
            "{r}: symbols can only be checked in .rs, .kt and .sh files"
        )),
    }
}

/// The rows of the MASVS table in `doc` (the section [`SECTION`]), or the problems that
/// stopped the parse.
fn masvs_rows(doc: &str, problems: &mut Vec<String>) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut in_section = false;
    for (i, line) in doc.lines().enumerate() {
        if line.starts_with("## ") {
            in_section = line.trim_end() == SECTION;
            continue;
        }
        if !in_section || !line.starts_with("| MASVS-") {
            continue;
        }
        let line_no = i + 1;
        let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
        let cells: Vec<&str> = inner.split('|').map(str::trim).collect();
        if cells.len() != 5 {
            problems.push(format!(
                "{DOC}:{line_no}: expected 5 cells (control | status | what meets it | code | test), found {} (no `|` inside a cell)",
                cells.len()
            ));
            continue;
        }
        let control: String = cells[0]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        rows.push(Row {
            line: line_no,
            control,
            status: cells[1].to_string(),
            code: cells[3].to_string(),
            test: cells[4].to_string(),
            raw: line.to_string(),
        });
    }
    rows
}

/// Checks the whole MASVS table of `doc` against the files under `root`. Returns the
/// problems and notes (skipped rows).
fn check_masvs(root: &Path, doc: &str) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let rows = masvs_rows(doc, &mut problems);
    if rows.is_empty() {
        problems.push(format!("{DOC}: no MASVS table under \"{SECTION}\""));
        return (problems, notes);
    }

    let mut seen: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &rows {
        seen.entry(row.control.as_str()).or_default().push(row.line);
        if !CONTROLS.contains(&row.control.as_str()) {
            problems.push(format!("{}: not a MASVS v2 control", row.at()));
        }
        match STATUSES.iter().find(|s| **s == row.status) {
            Some(s) => *counts.entry(s).or_default() += 1,
            None => problems.push(format!(
                "{}: unknown status `{}` (one of {STATUSES:?})",
                row.at(),
                row.status
            )),
        }
        if row.raw.contains(TODO_MARKER) {
            notes.push(format!("{}: {TODO_MARKER}, not checked", row.at()));
            continue;
        }
        let mut cited = [0usize; 2];
        for (k, column, cell) in [(0, Column::Code, &row.code), (1, Column::Test, &row.test)] {
            for span in code_spans(cell) {
                let Some(r) = parse_ref(&span) else {
                    problems.push(format!(
                        "{}: `{span}` in the {} column is not a reference (a path, path::symbol or Class.`test`)",
                        row.at(),
                        column.name()
                    ));
                    continue;
                };
                cited[k] += 1;
                if let Some(p) = check_ref(root, &r, column) {
                    problems.push(format!("{}: {} column: {p}", row.at(), column.name()));
                }
            }
        }
        if CLAIMS.contains(&row.status.as_str()) {
            if cited[0] == 0 {
                problems.push(format!(
                    "{}: status `{}` but no code is cited",
                    row.at(),
                    row.status
                ));
            }
            if cited[1] == 0 {
                problems.push(format!(
                    "{}: status `{}` but no test is cited",
                    row.at(),
                    row.status
                ));
            }
        }
    }
    for control in CONTROLS {
        match seen.get(control).map(Vec::len) {
            None => problems.push(format!("{DOC}: {control} has no row")),
            Some(1) => {}
            Some(_) => problems.push(format!(
                "{DOC}: {control} is listed more than once (lines {:?})",
                seen[control]
            )),
        }
    }
    check_summary(doc, &counts, &mut problems);
    (problems, notes)
}

/// The line `Summary: 4 `SDK`, 6 `SDK + host app`, ...` under the table must match the
/// table's counts.
fn check_summary(doc: &str, counts: &BTreeMap<&str, usize>, problems: &mut Vec<String>) {
    let mut in_section = false;
    for (i, line) in doc.lines().enumerate() {
        if line.starts_with("## ") {
            in_section = line.trim_end() == SECTION;
            continue;
        }
        let Some(rest) = line.strip_prefix("Summary: ").filter(|_| in_section) else {
            continue;
        };
        let mut stated: BTreeMap<String, usize> = BTreeMap::new();
        for part in rest.trim_end_matches('.').split(", ") {
            let spans = code_spans(part);
            let n = part.split_whitespace().next().and_then(|n| n.parse().ok());
            match (n, spans.as_slice()) {
                (Some(n), [status]) => {
                    stated.insert(status.clone(), n);
                }
                _ => problems.push(format!(
                    "{DOC}:{}: summary part `{part}` is not `N `status``",
                    i + 1
                )),
            }
        }
        let actual: BTreeMap<String, usize> =
            counts.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        if stated != actual {
            problems.push(format!(
                "{DOC}:{}: the summary says {stated:?}, the table has {actual:?}",
                i + 1
            ));
        }
        return;
    }
    problems.push(format!("{DOC}: no `Summary: ` line under the MASVS table"));
}

#[test]
fn the_masvs_table_cites_files_symbols_and_tests_that_exist() {
    let root = repo_root();
    let doc = std::fs::read_to_string(root.join(DOC)).expect("docs/security.md");
    let (problems, notes) = check_masvs(&root, &doc);
    for note in &notes {
        eprintln!("note: {note}");
    }
    assert!(
        problems.is_empty(),
        "the MASVS table in {DOC} is out of date:\n  {}",
        problems.join("\n  ")
    );
}

/// The checker itself: a renamed test, a missing file, an unknown symbol, a claim without a
/// test, a missing control and a wrong summary are each reported with their row.
#[test]
fn the_checker_reports_each_kind_of_stale_row_with_its_control() {
    let root = repo_root();
    let mut doc = String::from(
        "# x\n\n## OWASP MASVS v2 controls\n\n| control | status | what | code | test |\n|---|---|---|---|---|\n",
    );
    let good = "| MASVS-STORAGE-1 | SDK | ok | `src/crypto/keys.rs::DataKey::wrap` | `tests/store_keys.rs::kek_rotation_rewraps_the_data_key`, `` KeysTest.`wrong key is WrongKey and leaves the file byte-for-byte unchanged` `` |\n";
    doc.push_str(good);
    doc.push_str("| MASVS-STORAGE-2 | SDK | renamed | `src/crypto/keys.rs` | `tests/store_keys.rs::kek_rotation_rewraps_the_data_key_renamed` |\n");
    doc.push_str("| MASVS-CRYPTO-1 | SDK | no file | `src/crypto/nope.rs` | `tests/store_keys.rs::kek_rotation_rewraps_the_data_key` |\n");
    doc.push_str("| MASVS-CRYPTO-2 | SDK | no symbol | `src/crypto/keys.rs::DataKey::rewrap_all` | `` KeysTest.`no such kotlin test` `` |\n");
    doc.push_str(
        "| MASVS-AUTH-1 | SDK + host app | no test | `src/sync/auth.rs::AuthProvider` | |\n",
    );
    doc.push_str("| MASVS-NETWORK-2 | TODO-PINNING | later | `NetConfig` | |\n");
    doc.push_str("\nSummary: 9 `SDK`.\n\n## Next\n");
    let (problems, notes) = check_masvs(&root, &doc);
    let all = problems.join("\n");
    let about = |control: &str, text: &str| {
        problems
            .iter()
            .any(|p| p.contains(&format!("({control})")) && p.contains(text))
    };
    assert!(
        !problems.iter().any(|p| p.contains("(MASVS-STORAGE-1)")),
        "{all}"
    );
    assert!(
        about(
            "MASVS-STORAGE-2",
            "no fn kek_rotation_rewraps_the_data_key_renamed in tests/store_keys.rs"
        ),
        "{all}"
    );
    assert!(
        about("MASVS-CRYPTO-1", "no file src/crypto/nope.rs"),
        "{all}"
    );
    assert!(about("MASVS-CRYPTO-2", "no item rewrap_all"), "{all}");
    assert!(about("MASVS-CRYPTO-2", "no such kotlin test"), "{all}");
    assert!(about("MASVS-AUTH-1", "no test is cited"), "{all}");
    assert!(
        !problems.iter().any(|p| p.contains("(MASVS-NETWORK-2)")),
        "{all}"
    );
    assert!(notes.iter().any(|n| n.contains("MASVS-NETWORK-2")));
    assert!(all.contains("MASVS-PRIVACY-4 has no row"), "{all}");
    assert!(all.contains("the summary says"), "{all}");
}

#[test]
fn code_spans_and_references_parse_like_markdown() {
    assert_eq!(
        code_spans("a `x` and `` K.`y z` `` end"),
        vec!["x".to_string(), "K.`y z`".to_string()]
    );
    assert_eq!(code_spans("unmatched `x"), Vec::<String>::new());
    assert_eq!(
        parse_ref("KeysTest.`a, b's (c)`"),
        Some(Ref::Kotlin {
            class: "KeysTest".into(),
            name: "a, b's (c)".into()
        })
    );
    assert_eq!(
        parse_ref("SmokeTest.sdkVersionMatchesCargoToml"),
        Some(Ref::Kotlin {
            class: "SmokeTest".into(),
            name: "sdkVersionMatchesCargoToml".into()
        })
    );
    assert_eq!(
        parse_ref("src/a/b.rs::T::f"),
        Some(Ref::Path {
            path: "src/a/b.rs".into(),
            symbols: vec!["T".into(), "f".into()]
        })
    );
    assert_eq!(
        parse_ref("deny.toml"),
        Some(Ref::Path {
            path: "deny.toml".into(),
            symbols: vec![]
        })
    );
    for not_a_ref in [
        "NetConfig",
        "secure_delete",
        "../etc/passwd.rs",
        "/abs.rs",
        "a.rs::",
    ] {
        assert_eq!(parse_ref(not_a_ref), None, "{not_a_ref}");
    }
    assert!(has_item("fn ab() {}\nfn abc() {}", "fn", "abc"));
    assert!(!has_item("fn abcd() {}", "fn", "abc"));
    assert!(!has_item("xfn abc() {}", "fn", "abc"));
    assert!(shell_has_function("same_min_sdk() {\n", "same_min_sdk"));
    assert!(!shell_has_function("same_min_sdk_x() {\n", "same_min_sdk"));
}
