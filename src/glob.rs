//! glob (being written).
