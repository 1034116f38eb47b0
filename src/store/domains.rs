//! The constructors of the domain objects: each takes the public [`Store`] and gives its
//! domain what it uses of it (the vault and the shared consent state), so that no domain
//! names the `Store` object itself.

use super::Store;
use crate::consent::Consent;
use crate::error::ApiResult;
use crate::sync::{AuthProvider, SyncClient, SyncConfig};
use crate::telemetry::{Telemetry, TelemetryConfig};
use std::sync::Arc;

#[uniffi::export]
impl Consent {
    /// Consent management for `store`.
    #[uniffi::constructor]
    pub fn new(store: Arc<Store>) -> Arc<Self> {
        Consent::on(Arc::clone(store.handle()))
    }
}

#[uniffi::export]
impl Telemetry {
    /// Starts the pipeline for `store` with `config`.
    #[uniffi::constructor]
    pub fn new(store: Arc<Store>, config: TelemetryConfig) -> ApiResult<Arc<Self>> {
        Telemetry::on(Arc::clone(store.handle()), config)
    }
}

#[uniffi::export]
impl SyncClient {
    /// A sync client for `store`, authenticating with `authProvider`.
    #[uniffi::constructor]
    pub fn new(
        store: Arc<Store>,
        config: SyncConfig,
        auth_provider: Arc<dyn AuthProvider>,
    ) -> ApiResult<Arc<Self>> {
        let handle = Arc::clone(store.handle());
        SyncClient::on(
            handle,
            Arc::new(move || store.erase_all()),
            config,
            auth_provider,
        )
    }
}
