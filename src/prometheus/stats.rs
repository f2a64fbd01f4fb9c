//! Several statistics of one expression in one query: each part is tagged with [`STAT_LABEL`] by
//! `label_replace`, so the parts' label sets differ and `or` keeps every series.

/// The label our queries add to tell the statistics of one series apart.
pub const STAT_LABEL: &str = "thermostat_stat";

/// `inner` with `thermostat_stat="<stat>"` added to every series.
pub fn tag_stat(inner: &str, stat: &str) -> String {
    format!("label_replace({inner}, \"{STAT_LABEL}\", \"{stat}\", \"\", \"\")")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tagged_part_adds_only_our_label() {
        assert_eq!(
            tag_stat("up", "current"),
            r#"label_replace(up, "thermostat_stat", "current", "", "")"#
        );
    }
}
