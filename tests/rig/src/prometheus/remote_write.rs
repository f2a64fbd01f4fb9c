//! Remote-write feeder: `prometheus.WriteRequest` protobuf, block snappy, `POST /api/v1/write`.
//!
//! The messages are declared by hand (no protoc) with the field numbers of prometheus/prompb/types.proto and
//! remote.proto; only the fields we send.

use super::Prometheus;
use anyhow::{Context, bail};
use prost::Message;

/// One series to push: its labels (including `__name__`) and samples `(unix milliseconds, value)` in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Vec<(String, String)>,
    pub samples: Vec<(i64, f64)>,
}

impl Series {
    /// A series named `name` with these extra labels and no samples yet.
    pub fn new(name: &str, labels: &[(&str, &str)]) -> Self {
        let mut all = vec![("__name__".to_owned(), name.to_owned())];
        all.extend(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Self {
            labels: all,
            samples: Vec::new(),
        }
    }

    pub fn with_samples(mut self, samples: Vec<(i64, f64)>) -> Self {
        self.samples = samples;
        self
    }

    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Same series with one label set (added or replaced).
    pub fn with_label(mut self, name: &str, value: &str) -> Self {
        match self.labels.iter_mut().find(|(k, _)| k == name) {
            Some(label) => label.1 = value.to_owned(),
            None => self.labels.push((name.to_owned(), value.to_owned())),
        }
        self
    }
}

#[derive(Clone, PartialEq, Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Message)]
struct Label {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

/// Samples per request: keeps each body a few MB.
const SAMPLES_PER_REQUEST: usize = 100_000;
/// Width of one time slice. The TSDB head refuses samples older than about an hour before its newest sample, so a
/// long history goes in oldest slice first.
const SLICE_MS: i64 = 20 * 60 * 1000;

pub(super) fn push(server: &Prometheus, series: &[Series]) -> anyhow::Result<()> {
    for request in batches(series) {
        send(server, &request)?;
    }
    Ok(())
}

/// Splits the push into requests: time slices oldest first, each cut to at most [`SAMPLES_PER_REQUEST`] samples.
fn batches(series: &[Series]) -> Vec<WriteRequest> {
    let Some(first_ms) = series
        .iter()
        .filter_map(|s| s.samples.first())
        .map(|s| s.0)
        .min()
    else {
        return Vec::new();
    };
    let last_ms = series
        .iter()
        .filter_map(|s| s.samples.last())
        .map(|s| s.0)
        .max()
        .unwrap_or(first_ms);
    let labels: Vec<Vec<Label>> = series.iter().map(|s| sorted_labels(&s.labels)).collect();
    let mut requests = Vec::new();
    let mut current = WriteRequest::default();
    let mut current_samples = 0;
    let mut slice_start = first_ms;
    while slice_start <= last_ms {
        let slice_end = slice_start + SLICE_MS;
        for (one, labels) in series.iter().zip(&labels) {
            let samples: Vec<Sample> = one
                .samples
                .iter()
                .filter(|(ms, _)| (slice_start..slice_end).contains(ms))
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect();
            if samples.is_empty() {
                continue;
            }
            current_samples += samples.len();
            current.timeseries.push(TimeSeries {
                labels: labels.clone(),
                samples,
            });
            if current_samples >= SAMPLES_PER_REQUEST {
                requests.push(std::mem::take(&mut current));
                current_samples = 0;
            }
        }
        slice_start = slice_end;
    }
    if !current.timeseries.is_empty() {
        requests.push(current);
    }
    requests
}

/// The remote-write spec wants labels sorted by name.
fn sorted_labels(labels: &[(String, String)]) -> Vec<Label> {
    let mut sorted: Vec<Label> = labels
        .iter()
        .map(|(name, value)| Label {
            name: name.clone(),
            value: value.clone(),
        })
        .collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    sorted
}

fn send(server: &Prometheus, request: &WriteRequest) -> anyhow::Result<()> {
    let body = snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .context("snappy-compressing a remote-write request")?;
    let url = format!("{}/api/v1/write", server.url());
    let mut response = server
        .authorize(server.agent().post(&url))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .send(&body[..])
        .with_context(|| format!("remote write to {url}"))?;
    if response.status() != 204 {
        let status = response.status();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        bail!(
            "remote write to {url} of {} series answered {status}: {}",
            request.timeseries.len(),
            text.trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_history_goes_oldest_slice_first_with_sorted_labels() {
        let samples: Vec<(i64, f64)> = (0..300).map(|i| (i * 15_000, i as f64)).collect();
        let series = vec![
            Series::new("b", &[("z", "1"), ("a", "2")]).with_samples(samples.clone()),
            Series::new("a", &[]).with_samples(samples),
        ];
        let requests = batches(&series);
        let starts: Vec<i64> = requests
            .iter()
            .flat_map(|r| r.timeseries.iter().map(|s| s.samples[0].timestamp))
            .collect();
        assert!(
            starts.windows(2).all(|w| w[0] <= w[1]),
            "slices out of order: {starts:?}"
        );
        let total: usize = requests
            .iter()
            .flat_map(|r| &r.timeseries)
            .map(|s| s.samples.len())
            .sum();
        assert_eq!(total, 600);
        let names: Vec<&str> = requests[0].timeseries[0]
            .labels
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(names, ["__name__", "a", "z"]);
    }
}
