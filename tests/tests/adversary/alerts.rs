//! (filled by the alerts work)
