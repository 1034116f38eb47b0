// aparking-core Android library: the Rust core (.so for 4 ABIs, built by build-rust.sh with
// cargo-ndk) plus the uniffi-generated Kotlin bindings, packaged as an AAR.
//
//   gradle assembleRelease                                   -> build/outputs/aar/aparking-core-android-release.aar
//   gradle publishReleasePublicationToLocalRepository        -> build/repo (a Maven repository)
//   gradle publishToMavenLocal                               -> ~/.m2 (kz.aparking:aparking-core-android:0.1.0)
import java.io.File
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.21"
    `maven-publish`
}

group = providers.gradleProperty("GROUP").get()
version = providers.gradleProperty("VERSION_NAME").get()
val artifactName = providers.gradleProperty("POM_ARTIFACT_ID").get()

/** Where build-rust.sh writes its outputs (keep in sync with the script). */
val rustJniLibs = layout.buildDirectory.dir("rustJniLibs")
val uniffiKotlin = layout.buildDirectory.dir("generated/uniffi")

android {
    namespace = "kz.aparking.core"
    compileSdk = 35
    // r27c; build-rust.sh prefers this NDK when it is installed in the SDK.
    ndkVersion = "27.2.12479018"

    defaultConfig {
        // 24 (Android 7.0): see README.md. Keep in sync with min_sdk in build-rust.sh.
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }

    buildTypes {
        release {
            // A library is shrunk by the app that uses it (consumer-rules.pro travels in the AAR).
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
        // The bindings map Rust timestamps to java.time.Instant, which Android has natively
        // only from API 26; desugaring provides it on API 24-25. Apps must enable it too
        // (AGP's AAR metadata check says so at build time); see README.md.
        isCoreLibraryDesugaringEnabled = true
    }

    sourceSets {
        getByName("main") {
            // The Kotlin compiler picks up .kt files from the java source directories.
            java.srcDir(uniffiKotlin)
            // Hand-written Kotlin on top of the generated bindings (TelemetryRecorder).
            java.srcDir("../bindings/kotlin/src/main/kotlin")
            jniLibs.srcDir(rustJniLibs)
        }
    }

    publishing {
        singleVariant("release") {
            withSourcesJar()
        }
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    // uniffi's Kotlin bindings call the Rust library through JNA; the @aar artifact carries
    // libjnidispatch.so for every Android ABI (the plain jar has desktop natives only).
    implementation("net.java.dev.jna:jna:5.19.1@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
    coreLibraryDesugaring("com.android.tools:desugar_jdk_libs:2.1.4")
}

// --- Rust: build-rust.sh before preBuild -----------------------------------------------------

val skipRustBuild = providers.gradleProperty("aparking.skipRustBuild").map { it.toBoolean() }.orElse(false)

val buildRust by tasks.registering(Exec::class) {
    group = "build"
    description = "Builds libaparking_core.so for 4 ABIs (cargo-ndk) and generates the Kotlin bindings."
    onlyIf("-Paparking.skipRustBuild=true skips the Rust build") { !skipRustBuild.get() }

    val repoRoot = rootDir.parentFile
    workingDir = repoRoot
    commandLine("bash", file("build-rust.sh").absolutePath)

    // Tell the script where Android Studio's SDK is (local.properties sdk.dir) when the shell
    // environment does not say; the script then finds <sdk>/ndk/<version>.
    val sdkDir = android.sdkDirectory
    if (!providers.environmentVariable("ANDROID_HOME").isPresent &&
        !providers.environmentVariable("ANDROID_SDK_ROOT").isPresent
    ) {
        environment("ANDROID_HOME", sdkDir.absolutePath)
    }
    val pinnedNdk = File(sdkDir, "ndk/${android.ndkVersion}")
    if (!providers.environmentVariable("ANDROID_NDK_HOME").isPresent && pinnedNdk.isDirectory) {
        environment("ANDROID_NDK_HOME", pinnedNdk.absolutePath)
    }

    inputs.file("build-rust.sh")
    inputs.files(File(repoRoot, "Cargo.toml"), File(repoRoot, "Cargo.lock"), File(repoRoot, "uniffi.toml"))
    inputs.dir(File(repoRoot, "src"))
    outputs.dir(rustJniLibs)
    outputs.dir(uniffiKotlin)
}

tasks.named("preBuild") {
    dependsOn(buildRust)
}

// --- Publishing: kz.aparking:aparking-core-android:<version> ---------------------------------

afterEvaluate {
    publishing {
        publications {
            create<MavenPublication>("release") {
                from(components["release"])
                groupId = project.group.toString()
                artifactId = artifactName
                version = project.version.toString()
                pom {
                    name.set("aparking-core (Android)")
                    description.set(
                        "Privacy-first Rust core of the aparking.kz mobile SDK: encrypted local store, " +
                            "with uniffi Kotlin bindings.",
                    )
                    licenses {
                        license {
                            name.set("MPL-2.0")
                            url.set("https://www.mozilla.org/en-US/MPL/2.0/")
                        }
                    }
                }
            }
        }
        repositories {
            maven {
                name = "local"
                url = uri(layout.buildDirectory.dir("repo"))
            }
        }
    }
}
