//! Benchmark reports written into Markdown between two markers, so hand-written text around them survives a re-run.

use anyhow::Context;
use std::path::Path;

/// Replaces what lies between `<!-- {marker}:begin -->` and `<!-- {marker}:end -->` in `path` with `tables`,
/// headed by who wrote it (`writer`, e.g. "`make bench`") and the `machine` it ran on.
pub fn splice_markdown(
    path: &Path,
    marker: &str,
    writer: &str,
    tables: &str,
    machine: &str,
) -> anyhow::Result<()> {
    let (begin, end) = (
        format!("<!-- {marker}:begin -->"),
        format!("<!-- {marker}:end -->"),
    );
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let (head, rest) = text
        .split_once(&begin)
        .with_context(|| format!("{}: no {begin} marker", path.display()))?;
    let (_, tail) = rest
        .split_once(&end)
        .with_context(|| format!("{}: no {end} marker", path.display()))?;
    let generated = format!(
        "{begin}\n<!-- Written by {writer}; edit outside the markers. -->\n\nMachine: {machine}.\n{tables}\n{end}"
    );
    std::fs::write(path, format!("{head}{generated}{tail}"))
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_text_between_the_markers_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("B.md");
        std::fs::write(
            &path,
            "intro\n<!-- x:begin -->\nold\n<!-- x:end -->\noutro\n",
        )
        .unwrap();
        splice_markdown(&path, "x", "`make bench`", "| new |", "2 cores").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("intro\n<!-- x:begin -->\n"), "{text}");
        assert!(
            text.contains("Machine: 2 cores.\n| new |\n<!-- x:end -->\noutro\n"),
            "{text}"
        );
        assert!(!text.contains("old"), "{text}");
        let missing = splice_markdown(&path, "y", "w", "t", "m").unwrap_err();
        assert!(
            missing.to_string().contains("no <!-- y:begin --> marker"),
            "{missing}"
        );
    }
}
