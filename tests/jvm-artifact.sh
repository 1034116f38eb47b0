#!/usr/bin/env bash
# Builds and installs the JVM artifact kz.aparking:aparking-core-jvm (bindings/jvm/pom.xml) into
# the local Maven repository, then checks what it carries: the generated bindings, the
# hand-written Kotlin, the host native library at JNA's resource path, and a sources jar
# without the library. examples/kotlin then depends on it (tests/run-all.sh runs it next).
# Needs the host library built (cargo build -p aparking-core -p uniffi-bindgen).
# Extra Maven flags (e.g. -o) come as arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

mvn -B -q "$@" -f bindings/jvm/pom.xml install -Dcargo.skip=true

# The default local repository (set MAVEN_REPO_LOCAL if yours is elsewhere).
repo="${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}"
dir="$repo/kz/aparking/aparking-core-jvm/0.1.0"
jar="$dir/aparking-core-jvm-0.1.0.jar"
sources="$dir/aparking-core-jvm-0.1.0-sources.jar"
fail=0
need() { # need FILE ENTRY: FILE lists ENTRY
    if ! jar tf "$1" | grep -qxF "$2"; then
        echo "jvm-artifact: $(basename "$1") lacks $2" >&2
        fail=1
    fi
}
case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) native="linux-x86-64/libaparking_core.so" ;;
    Linux-aarch64) native="linux-aarch64/libaparking_core.so" ;;
    Darwin-*) native="darwin-$(uname -m | sed 's/arm64/aarch64/; s/x86_64/x86-64/')/libaparking_core.dylib" ;;
    *) native="" ;;
esac
need "$jar" "kz/aparking/core/Store.class"
need "$jar" "kz/aparking/core/SyncClient.class"
need "$jar" "kz/aparking/core/FlowsKt.class"
need "$jar" "kz/aparking/core/TelemetryRecorder.class"
need "$jar" "kz/aparking/core/CallbacksKt.class"
[ -z "$native" ] || need "$jar" "$native"
need "$sources" "kz/aparking/core/aparking_core.kt"
need "$sources" "kz/aparking/core/Flows.kt"
need "$sources" "kz/aparking/core/TelemetryRecorder.kt"
if jar tf "$sources" | grep -q 'libaparking_core'; then
    echo "jvm-artifact: the sources jar carries the native library" >&2
    fail=1
fi
[ "$fail" = 0 ] || exit 1
echo "jvm-artifact: kz.aparking:aparking-core-jvm:0.1.0 installed ($(du -k "$jar" | cut -f1) KB, sources $(du -k "$sources" | cut -f1) KB)"
