//! `--data-dir` and `--store`, as the commands that work on a deployment
//! beside (or instead of) `trent serve` take them: `trent init`, `trent
//! operator rekey`, `trent operator rotate-root`, `trent explain`.

use std::path::PathBuf;
use std::sync::Arc;

use trent_store::Store;

use super::ServeError;

#[derive(clap::Args, Debug, Clone)]
pub struct StoreLocation {
    #[arg(long, env = "TRENT_DATA_DIR", default_value = super::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// `sqlite` or a PostgreSQL URL, as `trent serve --store`.
    #[arg(long, env = "TRENT_STORE", default_value = "sqlite")]
    pub store: String,
}

impl StoreLocation {
    /// Opens the store, as `trent serve` does.
    pub async fn open_store(&self) -> Result<Arc<dyn Store>, ServeError> {
        super::open_store(&self.store, &self.data_dir).await
    }
}
