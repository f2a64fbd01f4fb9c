//! OpenMetrics text for backfilling: what `promtool tsdb create-blocks-from openmetrics FILE DIR` reads, written
//! as a stream (a day of a large cluster is tens of GB; remote write of that would take far longer).
//!
//! The format's rules that matter to promtool (prometheus: model/textparse/openmetricsparse.go,
//! cmd/promtool/backfill.go): every sample has a timestamp, in seconds (a float, truncated to the millisecond
//! after multiplying, so only whole seconds are exact); the text ends with `# EOF`; and, by the spec, each
//! metric family's lines come together after its `# TYPE`, a counter family named without its samples' `_total`.
//! Within one block promtool appends in file order, so each series' samples must be in time order.

use super::Series;
use anyhow::{Context, bail};
use std::collections::BTreeSet;
use std::io::Write;

/// A metric family's type, as the `# TYPE` line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
}

/// Writes families one after the other: [`Self::family`], then its series, then the next family.
pub struct OpenMetricsWriter<W: Write> {
    out: W,
    /// The open family: its samples' name.
    current: Option<String>,
    written: BTreeSet<String>,
    samples: u64,
    /// Reused for each series' `name{labels} ` prefix.
    prefix: Vec<u8>,
}

impl<W: Write> OpenMetricsWriter<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            current: None,
            written: BTreeSet::new(),
            samples: 0,
            prefix: Vec::new(),
        }
    }

    /// Opens the family whose samples are named `sample_name` (`node_cpu_seconds_total` for a counter): its
    /// `# TYPE` line. A family cannot be opened twice.
    pub fn family(&mut self, sample_name: &str, kind: MetricType) -> anyhow::Result<()> {
        let (family, kind_text) = match kind {
            MetricType::Counter => (
                sample_name.strip_suffix("_total").with_context(|| {
                    format!("counter samples are named NAME_total, not {sample_name:?}")
                })?,
                "counter",
            ),
            MetricType::Gauge => (sample_name, "gauge"),
        };
        if !self.written.insert(sample_name.to_owned()) {
            bail!("the {family} family was already written: a family's lines must come together");
        }
        writeln!(self.out, "# TYPE {family} {kind_text}")?;
        self.current = Some(sample_name.to_owned());
        Ok(())
    }

    /// Writes the samples of `series` (of the open family) from `from_ms` on (inclusive), oldest first; how many.
    pub fn series(&mut self, series: &Series, from_ms: i64) -> anyhow::Result<usize> {
        let name = series.label("__name__").unwrap_or_default();
        if self.current.as_deref() != Some(name) {
            bail!(
                "series {name:?} written while the family {:?} is open",
                self.current
            );
        }
        self.prefix.clear();
        self.prefix.extend_from_slice(name.as_bytes());
        let mut first = true;
        for (label, value) in series.labels.iter().filter(|(k, _)| k != "__name__") {
            self.prefix.push(if first { b'{' } else { b',' });
            first = false;
            self.prefix.extend_from_slice(label.as_bytes());
            self.prefix.extend_from_slice(b"=\"");
            escape_into(&mut self.prefix, value);
            self.prefix.push(b'"');
        }
        if !first {
            self.prefix.push(b'}');
        }
        self.prefix.push(b' ');
        let mut last_ms = i64::MIN;
        let mut count = 0;
        for &(ms, value) in series.samples.iter().filter(|(ms, _)| *ms >= from_ms) {
            if ms <= last_ms {
                bail!("{name}: samples out of time order at {ms} ms");
            }
            if ms % 1000 != 0 {
                bail!("{name}: {ms} ms is not a whole second (promtool truncates float seconds)");
            }
            last_ms = ms;
            self.out.write_all(&self.prefix)?;
            write_value(&mut self.out, value)?;
            writeln!(self.out, " {}", ms / 1000)?;
            count += 1;
        }
        self.samples += count as u64;
        Ok(count)
    }

    /// Samples written so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Ends the text with `# EOF` and flushes; gives the writer back.
    pub fn finish(mut self) -> anyhow::Result<W> {
        self.out.write_all(b"# EOF\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A label value with `\`, `"` and newlines escaped, as the text formats want.
fn escape_into(out: &mut Vec<u8>, value: &str) {
    for byte in value.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            other => out.push(other),
        }
    }
}

/// Rust's shortest round-trip float text, which Go's ParseFloat reads back exactly; the specials as
/// OpenMetrics spells them.
fn write_value(out: &mut impl Write, value: f64) -> std::io::Result<()> {
    if value.is_nan() {
        out.write_all(b"NaN")
    } else if value.is_infinite() {
        out.write_all(if value > 0.0 { b"+Inf" } else { b"-Inf" })
    } else {
        write!(out, "{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(write: impl FnOnce(&mut OpenMetricsWriter<Vec<u8>>) -> anyhow::Result<()>) -> String {
        let mut writer = OpenMetricsWriter::new(Vec::new());
        write(&mut writer).unwrap();
        String::from_utf8(writer.finish().unwrap()).unwrap()
    }

    #[test]
    fn families_are_written_together_with_seconds_and_end_with_eof() {
        let cpu = |node: &str, start: f64| {
            Series::new(
                "node_cpu_seconds_total",
                &[("node", node), ("mode", "idle")],
            )
            .with_samples(vec![
                (1_700_000_000_000, start),
                (1_700_000_060_000, start + 30.5),
            ])
        };
        let memory = Series::new("node_memory_MemAvailable_bytes", &[("node", "a\"b")])
            .with_samples(vec![(1_700_000_000_000, 8e9)]);
        let out = text(|w| {
            w.family("node_cpu_seconds_total", MetricType::Counter)?;
            w.series(&cpu("n1", 10.0), 0)?;
            w.series(&cpu("n2", 20.0), 1_700_000_060_000)?;
            w.family("node_memory_MemAvailable_bytes", MetricType::Gauge)?;
            w.series(&memory, 0)?;
            assert_eq!(w.samples(), 4);
            Ok(())
        });
        assert_eq!(
            out,
            "# TYPE node_cpu_seconds counter\n\
             node_cpu_seconds_total{node=\"n1\",mode=\"idle\"} 10 1700000000\n\
             node_cpu_seconds_total{node=\"n1\",mode=\"idle\"} 40.5 1700000060\n\
             node_cpu_seconds_total{node=\"n2\",mode=\"idle\"} 50.5 1700000060\n\
             # TYPE node_memory_MemAvailable_bytes gauge\n\
             node_memory_MemAvailable_bytes{node=\"a\\\"b\"} 8000000000 1700000000\n\
             # EOF\n"
        );
    }

    #[test]
    fn a_family_reopened_a_stray_series_or_a_bad_timestamp_is_refused() {
        let mut w = OpenMetricsWriter::new(Vec::new());
        let gauge = |ms: i64| Series::new("g", &[]).with_samples(vec![(ms, 1.0)]);
        assert!(w.series(&gauge(0), 0).is_err(), "no family open");
        w.family("g", MetricType::Gauge).unwrap();
        assert!(w.series(&gauge(1_500), 0).is_err(), "not a whole second");
        let backwards = Series::new("g", &[]).with_samples(vec![(2_000, 1.0), (1_000, 1.0)]);
        assert!(w.series(&backwards, 0).is_err(), "out of order");
        w.family("h", MetricType::Gauge).unwrap();
        assert!(w.family("g", MetricType::Gauge).is_err(), "g again");
        assert!(w.family("c", MetricType::Counter).is_err(), "no _total");
    }
}
