//! changes (being written).
