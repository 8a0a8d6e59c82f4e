//! What every gateway of a module shares at run time.

use std::sync::atomic::AtomicUsize;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::SocketConfig;

/// What every gateway of a module shares at run time.
#[derive(Debug)]
pub(crate) struct ModuleState {
    pub(crate) config: SocketConfig,
    /// Every connection task, so shutdown can wait for them.
    pub(crate) tasks: TaskTracker,
    /// Cancelled when shutdown starts: no new socket is admitted.
    pub(crate) shutdown: CancellationToken,
    /// Sockets attached to any namespace of the module.
    pub(crate) connections: AtomicUsize,
}
