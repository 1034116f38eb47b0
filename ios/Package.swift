// swift-tools-version:6.0
// aparking-core for Swift: the uniffi-generated bindings (module AparkingCore) plus our own
// Swift layer, over the Rust core's C interface (module AparkingCoreFFI).
//
// One package, two ways to get the Rust library:
//   - Apple platforms (the release path): a static XCFramework. Run `bash ios/build-xcframework.sh`
//     first; it creates build/AparkingCoreFFI.xcframework and Sources/AparkingCore/AparkingCore.swift.
//   - Linux, or macOS with APARKING_LIB_DIR set (tests and the sample on a host): the host's
//     shared library libaparking_core.so (.dylib), linked through the system-library target in
//     Sources/AparkingCoreFFI. Run `bash ios/generate-bindings.sh` first (tests/swift.sh does);
//     the library is looked up in $APARKING_LIB_DIR, default ../target/debug.
// The test sources (Tests/AparkingCoreTests) are the same on both.
import Foundation
import PackageDescription

// Linux always uses the host library; macOS does when APARKING_LIB_DIR is set (tests/swift.sh
// sets it), and otherwise the XCFramework.
#if os(Linux)
let useHostLibrary = true
#else
let useHostLibrary = Context.environment["APARKING_LIB_DIR"] != nil
#endif

let ffiTarget: Target
let linkHostLibrary: [LinkerSetting]
if useHostLibrary {
    let libDir = Context.environment["APARKING_LIB_DIR"] ?? "\(Context.packageDirectory)/../target/debug"
    ffiTarget = .systemLibrary(name: "AparkingCoreFFI", path: "Sources/AparkingCoreFFI")
    // -L for the link, and an rpath so the test runner and the sample find the library at run time.
    linkHostLibrary = [.unsafeFlags(["-L\(libDir)", "-Xlinker", "-rpath", "-Xlinker", libDir])]
} else {
    ffiTarget = .binaryTarget(name: "AparkingCoreFFI", path: "build/AparkingCoreFFI.xcframework")
    linkHostLibrary = []
}

var targets: [Target] = [
    // The C interface of the Rust library (see above).
    ffiTarget,
    // Generated bindings (AparkingCore.swift, not committed) and the hand-written Swift layer.
    .target(
        name: "AparkingCore",
        dependencies: ["AparkingCoreFFI"],
        path: "Sources/AparkingCore",
        linkerSettings: linkHostLibrary
    ),
    // Starts the reference backend (server/) as a child process, for the tests and the
    // sample on a host; empty on iOS. Not a product: apps never see it.
    .target(name: "AparkingReferenceServer", path: "Sources/AparkingReferenceServer"),
    .testTarget(
        name: "AparkingCoreTests",
        dependencies: ["AparkingCore", "AparkingReferenceServer"],
        path: "Tests/AparkingCoreTests"
    ),
]
#if os(Linux) || os(macOS)
// The Swift twin of examples/kotlin: `swift run --package-path ios aparking-sample`.
targets.append(.executableTarget(name: "aparking-sample", dependencies: ["AparkingCore", "AparkingReferenceServer"], path: "Sample"))
#endif

let package = Package(
    name: "AparkingCore",
    platforms: [
        .iOS(.v15),
        .macOS(.v12),
    ],
    products: [
        .library(name: "AparkingCore", targets: ["AparkingCore"]),
    ],
    targets: targets,
    // Swift 6 language mode: complete strict-concurrency checking, data races are errors.
    swiftLanguageModes: [.v6]
)
