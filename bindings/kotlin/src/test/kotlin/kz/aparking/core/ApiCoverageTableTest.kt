package kz.aparking.core

import java.io.File
import kotlin.test.assertTrue
import kotlin.test.fail
import org.junit.jupiter.api.Test

/**
 * Keeps `bindings/kotlin/COVERAGE.md` true as the API grows: every public item of the
 * generated `aparking_core.kt` must have a row, every row must name a test that exists, and
 * no row may name an item that is gone.
 *
 * On failure it prints the missing rows in table format, ready to be completed.
 */
class ApiCoverageTableTest {
    /** One exported item: its name in the table (`Store.addVehicle`) and its kind. */
    data class Item(val name: String, val kind: String)

    /** One table row: item, kind, test column. */
    data class Row(val item: String, val kind: String, val tests: String, val line: Int)

    private val bindingsDir: File =
        File(System.getProperty("aparking.bindings.dir") ?: "${repoRoot()}/bindings/kotlin")

    private fun repoRoot(): String =
        System.getProperty("aparking.repo.root")
            ?: error("system property aparking.repo.root is not set (run through Maven/Surefire)")

    private fun generatedFile(): File {
        val dir = System.getProperty("uniffi.generated.dir") ?: "${bindingsDir.path}/target/generated-sources/uniffi"
        return File(dir, "kz/aparking/core/aparking_core.kt").also {
            assertTrue(it.isFile, "generated bindings not found at ${it.absolutePath}")
        }
    }

    @Test
    fun `every exported item of the generated Kotlin API has a row in COVERAGE_md`() {
        val items = exportedItems(generatedFile().readLines())
        // Sanity: the parser still understands the generated file.
        for (expected in listOf("Store", "Store.open", "Store.addVehicle", "Consent.constructor", "parsePlate",
            "KeyProvider.keyEncryptionKey", "PlateNumber", "Purpose", "AparkingException.InvalidInput",
            "ConsentStatus.Allowed", "Telemetry.upload", "Store.close")) {
            assertTrue(items.any { it.name == expected }, "the parser no longer finds $expected: ${items.map { it.name }}")
        }
        val rows = coverageRows()
        val byItem = rows.groupBy { it.item }
        val missing = items.filter { it.name !in byItem }
        if (missing.isNotEmpty()) {
            fail(
                "COVERAGE.md lacks ${missing.size} exported item(s); add rows (and tests) for:\n" +
                    missing.joinToString("\n") { "| `${it.name}` | ${it.kind} | |" },
            )
        }
        val names = items.map { it.name }.toSet()
        val stale = rows.filter { it.item !in names }
        assertTrue(stale.isEmpty(), "COVERAGE.md rows for items the API no longer has: ${stale.map { it.item }}")
        val duplicated = byItem.filterValues { it.size > 1 }.keys
        assertTrue(duplicated.isEmpty(), "items with more than one row: $duplicated")
    }

    @Test
    fun `every row of COVERAGE_md names a test that exists`() {
        val testDir = File(bindingsDir, "src/test/kotlin/kz/aparking/core")
        val root = File(repoRoot())
        val problems = mutableListOf<String>()
        for (row in coverageRows()) {
            val kotlinRefs = KOTLIN_REF.findAll(row.tests).toList()
            val rustRefs = RUST_REF.findAll(row.tests).toList()
            if (row.tests.trim().startsWith("n/a:")) {
                if (row.kind != "generated class") problems += "line ${row.line}: only generated proxy classes may be n/a (${row.item})"
                continue
            }
            if (kotlinRefs.isEmpty() && rustRefs.isEmpty()) {
                problems += "line ${row.line}: ${row.item} names no test"
            }
            for (ref in kotlinRefs) {
                val (cls, method) = ref.destructured
                val name = method.removeSurrounding("`")
                val file = File(testDir, "$cls.kt")
                val found = file.isFile && file.readText().let { "fun `$name`" in it || Regex("""fun $name\s*\(""").containsMatchIn(it) }
                if (!found) problems += "line ${row.line}: ${row.item}: no test $cls.$method in ${file.name}"
            }
            for (ref in rustRefs) {
                val (path, fn) = ref.destructured
                val file = File(root, path)
                if (!file.isFile || !Regex("""fn $fn\s*\(""").containsMatchIn(file.readText())) {
                    problems += "line ${row.line}: ${row.item}: no Rust test $fn in $path"
                }
            }
        }
        assertTrue(problems.isEmpty(), problems.joinToString("\n"))
    }

    private fun coverageRows(): List<Row> {
        val file = File(bindingsDir, "COVERAGE.md")
        assertTrue(file.isFile, "no ${file.absolutePath}")
        return file.readLines().mapIndexedNotNull { i, line ->
            if (!line.startsWith("| `")) return@mapIndexedNotNull null
            val cells = line.trim().removePrefix("|").removeSuffix("|").split(" | ").map { it.trim() }
            if (cells.size < 3) fail("COVERAGE.md line ${i + 1}: expected item | kind | test: $line")
            Row(cells[0].removeSurrounding("`"), cells[1], cells.drop(2).joinToString(" | "), i + 1)
        }
    }

    companion object {
        /** `StoreTest.`a test name`` or `StoreTest.method`. */
        private val KOTLIN_REF = Regex("""\b(\w+(?:Test|Benchmark))\.(`[^`]+`|\w+)""")

        /** `tests/file.rs::function`. */
        private val RUST_REF = Regex("""\b((?:tests|src|server)/[\w/]+\.rs)::(\w+)""")

        private val INFRASTRUCTURE = Regex("""^(Ffi|Uniffi|RustBuffer|ForeignBytes|InternalException$|Disposable$|NoHandle$)""")

        /**
         * The public items of the generated bindings, by simple line patterns on uniffi's
         * Kotlin templates: top-level `fun `name`` (found by the `fn_func_` symbol it calls),
         * object classes with their constructors (`fn_constructor_` symbols) and `close`, the
         * methods of their `XInterface`, callback interfaces and their methods, `data class`
         * records, `enum class`, sealed classes (errors and enums with data) with their
         * variants, and the `...Impl` proxies uniffi generates for callback interfaces.
         * uniffi's runtime (`FfiConverter*`, `Uniffi*`, `RustBuffer`, ...) is not API.
         */
        fun exportedItems(lines: List<String>): List<Item> {
            val items = linkedSetOf<Item>()
            val interfaceOwners = lines.mapNotNull { Regex("""^public interface (\w+)Interface\b""").find(it)?.groupValues?.get(1) }.toSet()
            var owner: String? = null // the type whose block we are in
            var ownerKind = "" // "object", "interface", "callback", "sealed", "error", "skip"
            var lastFun: String? = null
            for (line in lines) {
                if (TOP_LEVEL.containsMatchIn(line)) {
                    // A column-0 declaration (or its doc comment) ends the previous one.
                    owner = null
                    ownerKind = ""
                    val decl = TOP_DECL.find(line) ?: continue
                    val (declared, name) = decl.destructured
                    // A callback interface of one method is a `fun interface` (our uniffi-bindgen).
                    val keyword = if (declared == "public fun interface") "public interface" else declared
                    if (INFRASTRUCTURE.containsMatchIn(name)) {
                        ownerKind = "skip"
                        continue
                    }
                    when {
                        keyword == "public interface" && name.endsWith("Interface") && name.removeSuffix("Interface") in interfaceOwners -> {
                            owner = name.removeSuffix("Interface"); ownerKind = "interface"
                        }
                        keyword == "public interface" -> {
                            items += Item(name, "callback interface"); owner = name; ownerKind = "callback"
                        }
                        keyword == "open class" && name.endsWith("Impl") && name.removeSuffix("Impl") !in interfaceOwners ->
                            items += Item(name, "generated class")
                        keyword == "open class" -> {
                            items += Item(name, "class"); owner = name; ownerKind = "object"
                        }
                        keyword == "data class" -> items += Item(name, "record")
                        keyword == "enum class" -> items += Item(name, "enum")
                        keyword == "sealed class" && line.contains("kotlin.Exception") -> {
                            items += Item(name, "error"); owner = name; ownerKind = "error"
                        }
                        keyword == "sealed class" -> {
                            items += Item(name, "enum with data"); owner = name; ownerKind = "sealed"
                        }
                    }
                    continue
                }
                FUN.find(line)?.let { lastFun = it.groupValues[2] }
                if ("external fun" !in line) {
                    FUNC_SYMBOL.find(line)?.let { items += Item(lastFun ?: it.groupValues[1], "function") }
                }
                when (ownerKind) {
                    "interface", "callback" -> FUN.find(line)?.let { m ->
                        val suspend = m.groupValues[1].isNotEmpty()
                        val kind = if (ownerKind == "callback") "callback method" else if (suspend) "suspend method" else "method"
                        items += Item("$owner.${m.groupValues[2]}", kind)
                    }
                    "object" -> {
                        if ("external fun" !in line) {
                            CONSTRUCTOR_SYMBOL.find(line)?.let { m ->
                                val ctor = m.groupValues[1]
                                items += if (ctor == "new") Item("$owner.constructor", "constructor")
                                else Item("$owner.${lastFun ?: ctor}", "constructor")
                            }
                        }
                        if (CLOSE.containsMatchIn(line)) items += Item("$owner.close", "method (AutoCloseable)")
                    }
                    "error", "sealed" -> VARIANT.find(line)?.let { m ->
                        items += Item("$owner.${m.groupValues[1]}", if (ownerKind == "error") "error variant" else "variant")
                    }
                }
            }
            return items.toList()
        }

        private val TOP_LEVEL = Regex("""^(public |internal |private |open |data |enum |sealed |object |class |interface |fun |/\*\*|@)""")
        private val TOP_DECL = Regex("""^(public interface|public fun interface|open class|data class|enum class|sealed class)\s+(\w+)""")
        private val FUN = Regex("""^\s+.*?\b(suspend )?fun `(\w+)`""")
        private val FUNC_SYMBOL = Regex("""UniffiLib\.uniffi_aparking_core_fn_func_(\w+)\(""")
        private val CONSTRUCTOR_SYMBOL = Regex("""UniffiLib\.uniffi_aparking_core_fn_constructor_[a-z0-9]+_(\w+)\(""")
        private val CLOSE = Regex("""^\s+override fun close\(\)""")
        private val VARIANT = Regex("""^    (?:data class|class|data object|object) (\w+)\b""")
    }
}
