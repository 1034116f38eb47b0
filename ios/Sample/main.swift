import AparkingCore
print("aparking-core \(sdkVersion())")
