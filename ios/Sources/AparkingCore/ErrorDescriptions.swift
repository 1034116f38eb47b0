// Hand-written: what Swift shows for the SDK's errors. The generated `LocalizedError`
// conformance answers `errorDescription` with `String(reflecting: self)`, which without this
// file is the enum's dump ("AparkingCore.AparkingError.WrongKey"). `CustomDebugStringConvertible`
// makes it a sentence instead, so `error.localizedDescription`, `error.message` and
// `String(reflecting:)` all read like "The key does not open this store." (`"\(error)"` and
// `description` stay the core's own text, "the key does not open this store": the generated
// enum declares `description` itself.)
//
// The sentences come from the Rust core's `Display` (the same text as Kotlin's `toString()`),
// which names fields and entities, never values: no personal data.
import Foundation

extension AparkingError: CustomStringConvertible, CustomDebugStringConvertible {
    /// One sentence saying what went wrong, without personal data; what
    /// `localizedDescription` returns.
    public var message: String {
        sentence(description)
    }

    /// The same as ``message``.
    public var debugDescription: String {
        message
    }

    /// What the app can do about it, when there is something to do.
    public var recoverySuggestion: String? {
        switch self {
        case .InvalidInput:
            "Ask the user to correct the value."
        case .AlreadyExists:
            "Use the record that is already saved."
        case .WrongKey:
            "Open the store with the key it was created with; if that key is gone for good, "
                + "call deleteStoreFiles(path:), open a new store and sync to restore the data."
        case .KeyUnavailable:
            "Retry once the device is unlocked; if the key is gone for good, call "
                + "deleteStoreFiles(path:), open a new store and sync to restore the data."
        case .IntegrityFailure:
            "Discard the damaged record with discardDamagedRecord(record:) (damagedRecords() names "
                + "them); the next sync restores what was synced."
        case .StoreCorrupted:
            "Call moveStoreAside(path:), open a new store and sync to restore the data."
        case .IncompatibleVersion:
            "Update the app: this store was written by a newer SDK."
        case .StoreClosed:
            "Open the store again."
        case .AuthRequired:
            "Sign the user in again."
        case .SyncInProgress:
            "Wait for the running sync to finish."
        case .SyncCancelled:
            "Sync again; nothing saved was lost."
        case .AccountErased:
            "Sign the user out: the account was deleted and so were its data on this device; "
                + "the next sync starts afresh on the empty store."
        case .StoreRolledBack:
            "Call moveStoreAside(path:), open a new store, sync to restore the data and ask the "
                + "user for consent again: this file is an older copy that could bring back a "
                + "withdrawn consent or erased data."
        case let .Network(_, retryAfterMs):
            retryAfterMs.map { "Try again in \(($0 + 999) / 1000) s; nothing was lost." }
                ?? "Try again later; nothing was lost."
        case .NoPolicy:
            "Publish the privacy policy (publishPolicyJson) before asking for consent."
        case .PolicyVersionMismatch:
            "Show the policy version in force and ask the user to accept that one."
        case .StorageFull:
            "Free some space on the device; nothing stored before was lost."
        case .UndeclaredHost:
            "Publish a privacy policy that declares this host for that data, or use an endpoint "
                + "the policy in force declares; nothing was sent and nothing was lost."
        case .UntrustedPolicy:
            "Check that SyncConfig.policyPublicKeys holds the key the backend signs its policy "
                + "with; the consent in force is unchanged and nothing was lost."
        case .NotFound, .Storage, .Internal:
            nil
        }
    }
}

extension KeyProviderError: CustomStringConvertible, CustomDebugStringConvertible {
    /// One sentence; `reason` is the app's own text.
    public var description: String {
        switch self {
        case let .Unavailable(reason):
            sentence("the key provider could not supply the key: \(reason)")
        }
    }

    /// The same as ``description``.
    public var debugDescription: String {
        description
    }
}

extension AuthProviderError: CustomStringConvertible, CustomDebugStringConvertible {
    /// One sentence; `reason` is the app's own text (never the token).
    public var description: String {
        switch self {
        case let .SignedOut(reason):
            sentence("the user is signed out: \(reason)")
        }
    }

    /// The same as ``description``.
    public var debugDescription: String {
        description
    }
}

/// `text` with a capital first letter and a closing full stop.
private func sentence(_ text: String) -> String {
    guard let first = text.first else { return text }
    let capitalised = first.uppercased() + text.dropFirst()
    return capitalised.hasSuffix(".") || capitalised.hasSuffix("?") || capitalised.hasSuffix("!")
        ? capitalised : capitalised + "."
}
