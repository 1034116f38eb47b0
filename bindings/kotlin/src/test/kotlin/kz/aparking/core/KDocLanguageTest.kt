package kz.aparking.core

import java.io.File
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test

/**
 * The KDoc of the generated API (the Rust doc comments of the exported items, which Swift
 * shows too) reads as Kotlin and Swift: `null` / `nil` rather than Rust's `None`, no Rust
 * paths (`Store::open`, `crate::x`), and names as Kotlin and Swift spell them (`startAutoSync`,
 * `retryAfterMs`), not Rust's snake_case. Only data values (a screen name, a data category)
 * are written in snake_case, and they are listed here.
 */
class KDocLanguageTest {
    private fun generatedFile(): File {
        val root = System.getProperty("aparking.repo.root")
            ?: error("system property aparking.repo.root is not set (run through Maven/Surefire)")
        val dir = System.getProperty("uniffi.generated.dir") ?: "$root/bindings/kotlin/target/generated-sources/uniffi"
        return File(dir, "kz/aparking/core/aparking_core.kt")
    }

    @Test
    fun `the KDoc of the generated API has no None, no Rust paths and no snake_case names`() {
        val problems = mutableListOf<String>()
        var docLines = 0
        generatedFile().readLines().forEachIndexed { i, line ->
            val text = line.trim()
            if (!text.startsWith("* ") && !text.startsWith("/**")) return@forEachIndexed
            docLines++
            val at = "aparking_core.kt:${i + 1}: $text"
            if (NONE.containsMatchIn(text)) problems += "None (say null / nil): $at"
            // A log record's target is a Rust module path by nature (`aparking_core::store`).
            if (RUST_PATH.findAll(text).any { !it.value.startsWith("aparking_core::") }) problems += "a Rust path: $at"
            for (m in SNAKE.findAll(text)) {
                if (m.groupValues[1] !in DATA_VALUES) problems += "snake_case `${m.groupValues[1]}`: $at"
            }
        }
        assertTrue(docLines > 500, "the generated file has its KDoc ($docLines lines)")
        assertTrue(problems.isEmpty(), "${problems.size} KDoc lines read as Rust:\n" + problems.joinToString("\n"))
    }

    companion object {
        private val NONE = Regex("""\bNone\b""")
        private val RUST_PATH = Regex("""\b[A-Za-z_][A-Za-z0-9_]*::[A-Za-z_]""")
        private val SNAKE = Regex("""`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)`""")

        /** Values, not names: screen names, data categories and event kinds in examples. */
        private val DATA_VALUES = setOf("parking_map", "network_quality", "app_usage", "payment_timeout")
    }
}
