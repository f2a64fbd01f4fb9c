//! Real Prometheus launcher and remote-write feeder (to be written).
