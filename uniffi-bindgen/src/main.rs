//! `uniffi-bindgen`: generates the Kotlin and Swift bindings from the built library.
//!
//! Usage: `cargo run -p uniffi-bindgen -- generate --library target/debug/libaparking_core.so --language kotlin --out-dir OUT`
//!
//! After uniffi has written the Kotlin file, two things are changed in it (each patch must
//! find what it changes, or the command fails: a uniffi upgrade then has to look again):
//! - uniffi 0.32 derives the `message` of an exception whose variants have fields from
//!   those fields (`"field=plate, reason=..."`, and `""` for a variant without fields), so
//!   `e.message`, which every Kotlin logger and crash reporter prints, said nothing
//!   readable. The `message` of `AparkingException`'s variants is made the core's sentence
//!   instead: its `toString()` (the Rust `Display`, which never holds personal data) with a
//!   capital first letter and a full stop, the same text as Swift's `AparkingError.message`.
//! - `close()` of a `Subscription` frees the Rust object (which stops its events), after
//!   which every generated method throws `IllegalStateException`. A closed subscription
//!   answers `isActive()` with `false` and `cancel()` does nothing, as after `cancel()`.
//! - uniffi writes callback interfaces as plain `interface`s, so Kotlin code cannot pass a
//!   lambda for them. Those with a single method (`KeyProvider`, `AuthProvider`, `LogSink`,
//!   `SyncObserver`, `ConsentObserver`) become `fun interface`s: `KeyProvider { kek.copyOf() }`.
//! - The variants without fields of sealed classes (`SyncEvent.Started`,
//!   `ConsentStatus.Allowed`, `TelemetryEvent.SessionStart`) are plain `object`s, which print
//!   as `SyncEvent$Started@1b6d3586`. They become `data object`s, which print their name.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The exception class whose `message` getters are replaced.
const EXCEPTION: &str = "sealed class AparkingException";
/// The getter's new body: the variant's `toString()` as a sentence.
const SENTENCE: &str = "toString().replaceFirstChar { it.uppercaseChar() }\
    .let { if (it.endsWith(\".\")) it else \"$it.\" }";
/// The subscription class, and its two methods as uniffi 0.32 writes them and as patched.
const SUBSCRIPTION: &str = "open class Subscription:";
const IS_ACTIVE: (&str, &str) = (
    "override fun `isActive`(): kotlin.Boolean {\n            return ",
    "override fun `isActive`(): kotlin.Boolean {\n            if (wasDestroyed.get()) return false\n            return ",
);
const CANCEL: (&str, &str) = (
    "override fun `cancel`()\n        = \n    callWithHandle {",
    "override fun `cancel`()\n        = if (wasDestroyed.get()) Unit else\n    callWithHandle {",
);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    uniffi::uniffi_bindgen_main();
    let kotlin = option(&args, &["--language", "-l"]).is_some_and(|l| l == "kotlin");
    match option(&args, &["--out-dir", "-o"]) {
        Some(out) if kotlin && args.iter().any(|a| a == "generate") => {
            match readable_messages(Path::new(out)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("uniffi-bindgen: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => ExitCode::SUCCESS,
    }
}

/// The value after the first of `names` in `args` (`--name value` or `--name=value`).
fn option<'a>(args: &'a [String], names: &[&str]) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(i, a)| {
        names.iter().find_map(|n| {
            if a == n {
                args.get(i + 1).map(String::as_str)
            } else {
                a.strip_prefix(n).and_then(|rest| rest.strip_prefix('='))
            }
        })
    })
}

/// Rewrites the `message` getters in the Kotlin file under `out` that declares
/// `AparkingException`; an error when no file does or its getters are not where uniffi 0.32
/// puts them (a uniffi upgrade then has to look at this again).
fn readable_messages(out: &Path) -> Result<(), String> {
    let mut files = Vec::new();
    kotlin_files(out, &mut files).map_err(|e| format!("reading {}: {e}", out.display()))?;
    let mut patched = 0;
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("reading {}: {e}", file.display()))?;
        if !text.contains(EXCEPTION) {
            continue;
        }
        let new = with_sentences(&text)
            .ok_or_else(|| format!("{}: no message getters in {EXCEPTION}", file.display()))?;
        let new = closed_subscription_is_inactive(&new)
            .ok_or_else(|| format!("{}: {SUBSCRIPTION} not as expected", file.display()))?;
        let new = named_objects(&new)
            .ok_or_else(|| format!("{}: no fieldless variant of a sealed class", file.display()))?;
        let (new, lambdas) = fun_interfaces(&new);
        if lambdas.is_empty() {
            return Err(format!(
                "{}: no callback interface with one method",
                file.display()
            ));
        }
        std::fs::write(&file, new).map_err(|e| format!("writing {}: {e}", file.display()))?;
        patched += 1;
    }
    if patched == 0 {
        return Err(format!(
            "no Kotlin file under {} declares {EXCEPTION}",
            out.display()
        ));
    }
    Ok(())
}

fn kotlin_files(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            kotlin_files(&path, found)?;
        } else if path.extension().is_some_and(|e| e == "kt") {
            found.push(path);
        }
    }
    Ok(())
}

/// `text` with every `message` getter of the exception class made [`SENTENCE`]; `None` when
/// the class has none.
fn with_sentences(text: &str) -> Option<String> {
    let start = text.find(EXCEPTION)?;
    // The class ends where its error handler, the last member uniffi writes, is declared.
    let end = start + text[start..].find("companion object ErrorHandler")?;
    let (before, rest) = text.split_at(start);
    let (class, after) = rest.split_at(end - start);
    let mut out = String::with_capacity(text.len() + 4096);
    out.push_str(before);
    let mut getters = 0;
    let mut lines = class.split_inclusive('\n').peekable();
    let mut pending = String::new();
    while let Some(line) = lines.next() {
        pending.push_str(line);
        if pending.ends_with("override val message\n") {
            if let Some(next) = lines.next() {
                let indent = &next[..next.len() - next.trim_start().len()];
                if next.trim_start().starts_with("get() = ") {
                    pending.push_str(indent);
                    pending.push_str("get() = ");
                    pending.push_str(SENTENCE);
                    pending.push('\n');
                    getters += 1;
                } else {
                    pending.push_str(next);
                }
            }
        }
        out.push_str(&pending);
        pending.clear();
    }
    out.push_str(after);
    (getters > 0).then_some(out)
}

/// `text` with `Subscription.isActive()` and `cancel()` answering a closed object without
/// a call into Rust; `None` when either is not found exactly once in the class.
fn closed_subscription_is_inactive(text: &str) -> Option<String> {
    let start = text.find(SUBSCRIPTION)?;
    let end = text[start + 1..]
        .find("\nopen class ")
        .map_or(text.len(), |i| start + 1 + i);
    let mut class = text[start..end].to_string();
    for (from, to) in [IS_ACTIVE, CANCEL] {
        if class.matches(from).count() != 1 {
            return None;
        }
        class = class.replacen(from, to, 1);
    }
    Some(format!("{}{}{}", &text[..start], class, &text[end..]))
}

/// `text` with every nested `object` that extends a class (a fieldless variant of a sealed
/// class: `    object Started : SyncEvent()`) made a `data object`; `None` when there is none.
fn named_objects(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 1024);
    let mut found = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let variant = !indent.is_empty()
            && body.strip_prefix("object ").is_some_and(|rest| {
                let rest = rest.trim_end();
                rest.split_once(" : ").is_some_and(|(name, parent)| {
                    name.chars().all(|c| c.is_ascii_alphanumeric())
                        && parent.ends_with("()")
                        && parent[..parent.len() - 2]
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric())
                })
            });
        if variant {
            out.push_str(indent);
            out.push_str("data ");
            out.push_str(body);
            found += 1;
        } else {
            out.push_str(line);
        }
    }
    (found > 0).then_some(out)
}

/// `text` with every callback interface of one method (an interface uniffi also implements
/// itself, in `open class <Name>Impl`) declared `fun interface`, and the names of those.
fn fun_interfaces(text: &str) -> (String, Vec<String>) {
    const DECLARATION: &str = "\npublic interface ";
    let mut out = String::with_capacity(text.len() + 256);
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(DECLARATION) {
        out.push_str(&rest[..=at]); // up to and with the newline
        rest = &rest[at + 1..];
        let line_end = rest.find('\n').unwrap_or(rest.len());
        let name = rest[..line_end]
            .trim_start_matches(DECLARATION.trim_start())
            .trim_end_matches('{')
            .trim();
        let end = rest.find("\n}\n").map_or(rest.len(), |i| i + 2); // up to the closing brace; its newline stays in `rest`
        let methods = rest[line_end..end]
            .lines()
            .filter(|l| l.trim_start().starts_with("fun "))
            .count();
        let callback =
            !name.contains(['<', ':', ' ']) && text.contains(&format!("open class {name}Impl:"));
        if callback && methods == 1 {
            out.push_str("public fun interface ");
            out.push_str(&rest[DECLARATION.len() - 1..end]);
            names.push(name.to_owned());
        } else {
            out.push_str(&rest[..end]);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    (out, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fieldless_variants_become_data_objects_and_nothing_else_changes() {
        let generated = "object UniffiWithHandle
sealed class SyncEvent {
    object Started : SyncEvent()
    data class Pushed(val `count`: kotlin.Long) : SyncEvent()
    companion object
}
";
        let out = named_objects(generated).unwrap();
        assert_eq!(
            out,
            generated.replace("    object Started", "    data object Started")
        );
        assert_eq!(named_objects("object UniffiWithHandle\n"), None);
    }

    #[test]
    fn callback_interfaces_of_one_method_become_fun_interfaces_and_nothing_else_changes() {
        let generated = "package kz.aparking.core
public interface FfiConverter<KotlinType, FfiType> {
    fun lift(value: FfiType): KotlinType
}
public interface KeyProvider {
    /**
     * The key.
     */
    fun `keyEncryptionKey`(): kotlin.ByteArray
    companion object
}
open class KeyProviderImpl: Disposable, AutoCloseable, KeyProvider
{
}
public interface RollbackCounter {
    fun `value`(): kotlin.Long
    fun `raiseTo`(`value`: kotlin.Long)
    companion object
}
open class RollbackCounterImpl: Disposable, AutoCloseable, RollbackCounter
{
}
public interface StoreInterface {
    fun `close`()
    companion object
}
open class Store: Disposable, AutoCloseable, StoreInterface
{
}
";
        let (out, names) = fun_interfaces(generated);
        assert_eq!(names, ["KeyProvider"]);
        assert_eq!(
            out,
            generated.replace(
                "public interface KeyProvider {",
                "public fun interface KeyProvider {"
            )
        );
        assert_eq!(fun_interfaces("no interfaces").1, Vec::<String>::new());
    }

    const GENERATED: &str = "sealed class AparkingException: kotlin.Exception() {
    class InvalidInput(
        val `field`: kotlin.String
        ) : AparkingException() {
        override val message
            get() = \"field=${ `field` }\"
    }
    class WrongKey(
        ) : AparkingException() {
        override val message
            get() = \"\"
    }
    companion object ErrorHandler : UniffiRustCallStatusErrorHandler<AparkingException> {
    }
}
sealed class KeyProviderException: kotlin.Exception() {
    class Unavailable(val `reason`: kotlin.String) : KeyProviderException() {
        override val message
            get() = \"reason=${ `reason` }\"
    }
}
";

    #[test]
    fn every_getter_of_the_exception_becomes_the_sentence_and_nothing_else_changes() {
        let out = with_sentences(GENERATED).unwrap();
        assert_eq!(out.matches(SENTENCE).count(), 2, "{out}");
        assert!(!out.contains("field=${"), "{out}");
        assert!(
            out.contains("get() = \"reason=${ `reason` }\""),
            "other classes untouched"
        );
        assert_eq!(
            out.replace(SENTENCE, "X").lines().count(),
            GENERATED.lines().count()
        );
    }

    #[test]
    fn a_closed_subscription_answers_without_calling_rust() {
        let generated = format!(
            "open class Store: Disposable {{\n    {}\n}}\n{SUBSCRIPTION} Disposable {{\n    {}x)\n    {} }}\n}}\nopen class Other:\n",
            IS_ACTIVE.0, IS_ACTIVE.0, CANCEL.0
        );
        let out = closed_subscription_is_inactive(&generated).unwrap();
        assert_eq!(out.matches(IS_ACTIVE.1).count(), 1, "{out}");
        assert_eq!(out.matches(CANCEL.1).count(), 1, "{out}");
        assert!(out.starts_with(&format!(
            "open class Store: Disposable {{\n    {}",
            IS_ACTIVE.0
        )));
        assert_eq!(
            closed_subscription_is_inactive("open class Subscription: {}"),
            None
        );
    }

    #[test]
    fn a_file_without_getters_is_an_error() {
        assert_eq!(with_sentences("sealed class AparkingException {}"), None);
    }

    #[test]
    fn options_are_read_in_both_spellings() {
        let args: Vec<String> = ["x", "generate", "--language=kotlin", "-o", "out"]
            .map(String::from)
            .to_vec();
        assert_eq!(option(&args, &["--language", "-l"]), Some("kotlin"));
        assert_eq!(option(&args, &["--out-dir", "-o"]), Some("out"));
    }
}
