//! (filled by the context work)
