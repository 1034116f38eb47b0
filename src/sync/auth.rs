//! The host's side of authentication on the personal channel.

/// Why an [`AuthProvider`] could not give a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum AuthProviderError {
    /// The user is signed out or the session cannot be refreshed. `reason` reaches the app
    /// in `AparkingError.AuthRequired`; it must not contain the token.
    #[error("not signed in: {reason}")]
    SignedOut { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for AuthProviderError {
    fn from(_: uniffi::UnexpectedUniFFICallbackError) -> Self {
        // The foreign exception's text is not forwarded: it may quote a token.
        AuthProviderError::SignedOut {
            reason: "the auth provider failed unexpectedly".to_string(),
        }
    }
}

/// Gives the bearer token of the personal channel. Implemented by the app (its session
/// manager). Called before a sync, and once more with `refresh = true` when the backend
/// answered 401; a second 401 fails the sync with `AuthRequired`. Called off the main
/// thread; may block while refreshing; must not call back into the SDK.
#[uniffi::export(with_foreign)]
pub trait AuthProvider: Send + Sync {
    /// The current token; a fresh one when `refresh` is true.
    fn bearer_token(&self, refresh: bool) -> Result<String, AuthProviderError>;
}
