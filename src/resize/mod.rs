//! resize-pods controller (to be written).
