//! (filled by the lineage work)
