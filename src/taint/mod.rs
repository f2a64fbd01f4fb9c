//! taint-nodes controller (to be written).
