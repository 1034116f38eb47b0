// swift-tools-version:5.9
// aparking-core for iOS: the Rust core as a static XCFramework (AparkingCoreFFI) plus the
// uniffi-generated Swift bindings (AparkingCore). Run `bash ios/build-xcframework.sh` first: it
// creates build/AparkingCoreFFI.xcframework and Sources/AparkingCore/AparkingCore.swift.
import PackageDescription

let package = Package(
    name: "AparkingCore",
    platforms: [
        .iOS(.v15),
    ],
    products: [
        .library(name: "AparkingCore", targets: ["AparkingCore"]),
    ],
    targets: [
        // The C interface of the Rust library: libaparking_core.a per platform, with the
        // AparkingCoreFFI module map. A release manifest uses
        // .binaryTarget(name: "AparkingCoreFFI", url: "https://.../AparkingCoreFFI.xcframework.zip", checksum: "...")
        .binaryTarget(
            name: "AparkingCoreFFI",
            path: "build/AparkingCoreFFI.xcframework"
        ),
        .target(
            name: "AparkingCore",
            dependencies: ["AparkingCoreFFI"],
            path: "Sources/AparkingCore"
        ),
        .testTarget(
            name: "AparkingCoreTests",
            dependencies: ["AparkingCore"],
            path: "Tests/AparkingCoreTests"
        ),
    ]
)
