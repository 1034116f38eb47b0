package kz.aparking.core

import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test

class SmokeTest {
    /** `[package] version` of the crate, read from the workspace Cargo.toml at test time. */
    private fun cargoPackageVersion(): String {
        val root = System.getProperty("aparking.repo.root")
            ?: error("system property aparking.repo.root is not set (run through Maven/Surefire)")
        val cargoToml = File(root, "Cargo.toml")
        assertTrue(cargoToml.isFile, "Cargo.toml not found at ${cargoToml.absolutePath}")

        var inPackage = false
        for (raw in cargoToml.readLines()) {
            val line = raw.substringBefore('#').trim()
            if (line.startsWith("[")) {
                inPackage = line == "[package]"
                continue
            }
            if (inPackage) {
                val m = Regex("""^version\s*=\s*"([^"]+)"$""").find(line)
                if (m != null) return m.groupValues[1]
            }
        }
        error("no [package] version in ${cargoToml.absolutePath}")
    }

    @Test
    fun sdkVersionMatchesCargoToml() {
        assertEquals(cargoPackageVersion(), sdkVersion())
    }
}
