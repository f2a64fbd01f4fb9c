use std::collections::BTreeMap;

/// One element of an instant vector: the series' labels and its value at the query time.
///
/// Shared by the client (which decodes answers into it) and the pure decision code (which matches
/// series to nodes and containers), so neither depends on the other.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    /// May be NaN or ±Inf: Prometheus answers them and the decisions must treat them as "no data".
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}
