//! Diagnostics on stderr through `tracing`, with a level that SIGHUP can change: the filter sits
//! behind a reload handle. A level given on the command line (`--log-level`) or in `RUST_LOG`
//! is pinned: it wins over the configuration's `[log] level`, at start and on reload.

use std::io::{self, IsTerminal};
use std::sync::OnceLock;

use tracing_subscriber::{EnvFilter, Registry, prelude::*, reload};

struct Logging {
    handle: reload::Handle<EnvFilter, Registry>,
    pinned: bool,
}

static LOGGING: OnceLock<Logging> = OnceLock::new();

/// What [`set_level`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelChange {
    Applied,
    /// `--log-level` or `RUST_LOG` decides the level.
    Pinned,
    /// [`init`] was not called (a library user).
    NotInitialised,
}

/// Installs the stderr logger at `level` (`RUST_LOG` wins when set). `pinned`: the level came
/// from the command line, so [`set_level`] leaves it alone.
pub fn init(level: &str, pinned: bool) {
    let from_env = EnvFilter::try_from_default_env().ok();
    let pinned = pinned || from_env.is_some();
    let filter = from_env
        .or_else(|| EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(io::stderr)
                .with_ansi(io::stderr().is_terminal())
                .with_target(false),
        )
        .init();
    let _ = LOGGING.set(Logging { handle, pinned });
}

/// Changes the level (a validated `[log] level`) unless it is pinned.
pub fn set_level(level: &str) -> Result<LevelChange, String> {
    let Some(logging) = LOGGING.get() else {
        return Ok(LevelChange::NotInitialised);
    };
    if logging.pinned {
        return Ok(LevelChange::Pinned);
    }
    let filter = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
    logging.handle.reload(filter).map_err(|e| e.to_string())?;
    Ok(LevelChange::Applied)
}
