//! Decoding a range query's answer while it arrives, one series at a time.
//!
//! A cluster-wide range answer is large (55,000 container series of 60 points: 135 MB of JSON) but what the hook
//! keeps of it is small (a few statistics per series). Reading it into memory first would cost its whole size;
//! here each series is handed to the caller as soon as it is read and then forgotten.

use super::answer::{Decoded, NO_DATA, native_histogram, parse_value, succeeded};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::io;
use std::marker::PhantomData;

/// What a streamed range answer said besides its series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamedAnswer {
    /// Series handed to the caller.
    pub series: usize,
    /// The server's `warnings`, verbatim: log them.
    pub warnings: Vec<String>,
    /// The server's `infos`.
    pub infos: Vec<String>,
}

/// Decodes a `/api/v1/query_range` answer from `reader`, calling `each` with every series' labels (decoded as `L`,
/// a struct of the labels wanted) and points (`(unix seconds, value)`, oldest first, NaN and ±Inf included).
///
/// Like the buffered decoder it checks the whole answer: a malformed one is an `Err` (whose `is_io()` /
/// `is_eof()` tell a broken connection from a bad answer). Series may have been handed over before an error or
/// an error status is found: the caller keeps what it built only on `Ok(Decoded::Success)`.
pub(crate) fn decode_matrix_from<R, L, F>(
    reader: R,
    each: F,
) -> Result<Decoded<StreamedAnswer>, serde_json::Error>
where
    R: io::Read,
    L: DeserializeOwned + Default + fmt::Debug,
    F: FnMut(L, &[(f64, f64)]),
{
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let mut each = each;
    let envelope = deserializer.deserialize_map(EnvelopeVisitor {
        each: &mut each,
        labels: PhantomData::<L>,
    })?;
    deserializer.end()?;
    envelope.into_decoded()
}

/// The answer's top level, with the result already handed over.
#[derive(Default)]
struct Envelope {
    status: Option<String>,
    data: Option<DataSummary>,
    error_type: Option<String>,
    error: Option<String>,
    warnings: Vec<String>,
    infos: Vec<String>,
}

#[derive(Default)]
struct DataSummary {
    result_type: Option<String>,
    series: usize,
}

impl Envelope {
    fn into_decoded(self) -> Result<Decoded<StreamedAnswer>, serde_json::Error> {
        let fail = |message: String| Err(de::Error::custom(message));
        if !succeeded(self.status.as_deref()).map_err(de::Error::custom)? {
            return Ok(Decoded::ApiError {
                error_type: self.error_type,
                error: self.error,
                warnings: self.warnings,
            });
        }
        let Some(data) = self.data else {
            return fail(NO_DATA.to_owned());
        };
        match data.result_type.as_deref() {
            Some("matrix") => Ok(Decoded::Success(StreamedAnswer {
                series: data.series,
                warnings: self.warnings,
                infos: self.infos,
            })),
            Some(other) => fail(format!("expected a range vector, got a {other}")),
            None => fail("answer has no \"resultType\"".to_owned()),
        }
    }
}

struct EnvelopeVisitor<'f, L, F> {
    each: &'f mut F,
    labels: PhantomData<L>,
}

impl<'de, L, F> Visitor<'de> for EnvelopeVisitor<'_, L, F>
where
    L: DeserializeOwned + Default + fmt::Debug,
    F: FnMut(L, &[(f64, f64)]),
{
    type Value = Envelope;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Prometheus API response")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        let mut envelope = Envelope::default();
        while let Some(key) = map.next_key::<EnvelopeField>()? {
            match key {
                EnvelopeField::Status => envelope.status = map.next_value()?,
                EnvelopeField::ErrorType => envelope.error_type = map.next_value()?,
                EnvelopeField::Error => envelope.error = map.next_value()?,
                EnvelopeField::Warnings => {
                    envelope.warnings = map.next_value::<Option<_>>()?.unwrap_or_default()
                }
                EnvelopeField::Infos => {
                    envelope.infos = map.next_value::<Option<_>>()?.unwrap_or_default()
                }
                EnvelopeField::Data => {
                    envelope.data = map.next_value_seed(DataSeed {
                        each: &mut *self.each,
                        labels: PhantomData::<L>,
                    })?
                }
                EnvelopeField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(envelope)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum EnvelopeField {
    Status,
    Data,
    ErrorType,
    Error,
    Warnings,
    Infos,
    #[serde(other)]
    Other,
}

/// `data`: `resultType` and `result` (a failed query may send `null`).
struct DataSeed<'f, L, F> {
    each: &'f mut F,
    labels: PhantomData<L>,
}

impl<'de, L, F> DeserializeSeed<'de> for DataSeed<'_, L, F>
where
    L: DeserializeOwned + Default + fmt::Debug,
    F: FnMut(L, &[(f64, f64)]),
{
    type Value = Option<DataSummary>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, L, F> Visitor<'de> for DataSeed<'_, L, F>
where
    L: DeserializeOwned + Default + fmt::Debug,
    F: FnMut(L, &[(f64, f64)]),
{
    type Value = Option<DataSummary>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the answer's data")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut data = DataSummary::default();
        while let Some(key) = map.next_key::<DataField>()? {
            match key {
                DataField::ResultType => data.result_type = map.next_value()?,
                // Another type (an error answer's empty one, a vector) is reported once the status is known.
                DataField::Result if data.result_type.as_deref().is_some_and(|t| t != "matrix") => {
                    map.next_value::<IgnoredAny>()?;
                }
                DataField::Result => {
                    data.series += map.next_value_seed(ResultSeed {
                        each: &mut *self.each,
                        labels: PhantomData::<L>,
                    })?
                }
                DataField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(data))
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum DataField {
    ResultType,
    Result,
    #[serde(other)]
    Other,
}

/// `result`: the series, each handed to the caller once read.
struct ResultSeed<'f, L, F> {
    each: &'f mut F,
    labels: PhantomData<L>,
}

impl<'de, L, F> DeserializeSeed<'de> for ResultSeed<'_, L, F>
where
    L: DeserializeOwned + Default + fmt::Debug,
    F: FnMut(L, &[(f64, f64)]),
{
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, L, F> Visitor<'de> for ResultSeed<'_, L, F>
where
    L: DeserializeOwned + Default + fmt::Debug,
    F: FnMut(L, &[(f64, f64)]),
{
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of series")
    }

    fn visit_none<E: de::Error>(self) -> Result<usize, E> {
        Ok(0)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        // One buffer for every series' points: the answer's size never lives in memory.
        let mut points = Vec::with_capacity(64);
        let mut count = 0;
        while seq
            .next_element_seed(SeriesSeed {
                points: &mut points,
                labels: PhantomData::<L>,
            })?
            .map(|labels| (self.each)(labels, &points))
            .is_some()
        {
            count += 1;
        }
        Ok(count)
    }
}

/// One series: its labels are returned, its points left in `points`.
struct SeriesSeed<'p, L> {
    points: &'p mut Vec<(f64, f64)>,
    labels: PhantomData<L>,
}

impl<'de, L> DeserializeSeed<'de> for SeriesSeed<'_, L>
where
    L: DeserializeOwned + Default + fmt::Debug,
{
    type Value = L;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<L, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, L> Visitor<'de> for SeriesSeed<'_, L>
where
    L: DeserializeOwned + Default + fmt::Debug,
{
    type Value = L;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a series")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<L, A::Error> {
        self.points.clear();
        let mut labels = None;
        let (mut histograms, mut instant) = (false, false);
        while let Some(key) = map.next_key::<SeriesField>()? {
            match key {
                SeriesField::Metric => labels = map.next_value::<Option<L>>()?,
                SeriesField::Values => map.next_value_seed(PointsSeed(&mut *self.points))?,
                SeriesField::Histograms => {
                    histograms = map.next_value::<Option<IgnoredAny>>()?.is_some()
                }
                SeriesField::Value => {
                    instant = true;
                    map.next_value::<IgnoredAny>()?;
                }
                SeriesField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let labels = labels.unwrap_or_default();
        if instant {
            return Err(de::Error::custom(format!(
                "expected a range vector, got an instant sample (series {labels:?})"
            )));
        }
        if self.points.is_empty() && histograms {
            return Err(de::Error::custom(native_histogram(&labels)));
        }
        Ok(labels)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum SeriesField {
    Metric,
    Values,
    Histograms,
    Value,
    #[serde(other)]
    Other,
}

/// `values`: `[[unix seconds, "value"], ...]`, appended to the buffer.
struct PointsSeed<'p>(&'p mut Vec<(f64, f64)>);

impl<'de> DeserializeSeed<'de> for PointsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for PointsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of [time, \"value\"] points")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some((at, PointValue(value))) = seq.next_element::<(f64, PointValue)>()? {
            self.0.push((at, value));
        }
        Ok(())
    }
}

/// A sample value: a string in Go's float format, parsed without keeping the string.
struct PointValue(f64);

impl<'de> Deserialize<'de> for PointValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;

        impl Visitor<'_> for ValueVisitor {
            type Value = PointValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sample value as a string")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<PointValue, E> {
                parse_value(text).map(PointValue).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(ValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    type Labels = BTreeMap<String, String>;
    type AllSeries = Vec<(Labels, Vec<(f64, f64)>)>;

    /// Decodes `body` as the client does, collecting every series.
    fn decode(body: &str) -> Result<(Decoded<StreamedAnswer>, AllSeries), String> {
        let mut series = Vec::new();
        let decoded = decode_matrix_from(body.as_bytes(), |labels: Labels, points| {
            series.push((labels, points.to_vec()))
        })
        .map_err(|e| e.to_string())?;
        Ok((decoded, series))
    }

    #[test]
    fn series_arrive_one_by_one_with_their_points_and_special_values() {
        let (decoded, series) = decode(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
                {"metric":{"pod":"a"},"values":[[1700000000,"0.5"],[1700000030.5,"NaN"]]},
                {"values":[[1700000000,"+Inf"]],"metric":{"pod":"b","job":"kubelet"}},
                {"metric":{},"values":[]}]},
                "warnings":["partial response"],"infos":["PromQL info: x"]}"#,
        )
        .unwrap();
        assert_eq!(
            decoded,
            Decoded::Success(StreamedAnswer {
                series: 3,
                warnings: vec!["partial response".into()],
                infos: vec!["PromQL info: x".into()],
            })
        );
        assert_eq!(series[0].0["pod"], "a");
        assert_eq!(series[0].1[0], (1700000000.0, 0.5));
        assert_eq!(series[0].1[1].0, 1700000030.5);
        assert!(series[0].1[1].1.is_nan());
        assert_eq!(series[1].0["job"], "kubelet", "metric after values");
        assert_eq!(series[1].1, [(1700000000.0, f64::INFINITY)]);
        assert!(series[2].1.is_empty());
    }

    #[test]
    fn wanted_labels_only_are_decoded() {
        #[derive(Debug, Default, Deserialize)]
        struct PodOnly {
            pod: Option<String>,
        }
        let mut pods = Vec::new();
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"pod":"a","id":"/kubepods/x"},"values":[[1,"1"]]},{"metric":{"job":"x"},"values":[[1,"2"]]}]}}"#;
        decode_matrix_from(body.as_bytes(), |labels: PodOnly, _| pods.push(labels.pod)).unwrap();
        assert_eq!(pods, [Some("a".to_owned()), None]);
    }

    #[test]
    fn error_answers_keep_type_and_message_whatever_their_data() {
        let (decoded, series) = decode(
            r#"{"status":"error","data":{"resultType":"","result":null},"errorType":"execution",
                "error":"query processing would load too many samples into memory"}"#,
        )
        .unwrap();
        assert!(series.is_empty());
        assert_eq!(
            decoded,
            Decoded::ApiError {
                error_type: Some("execution".into()),
                error: Some("query processing would load too many samples into memory".into()),
                warnings: vec![],
            }
        );
    }

    #[test]
    fn other_result_types_and_malformed_answers_say_what_is_wrong() {
        for (body, complaint) in [
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}"#,
                "expected a range vector, got a vector",
            ),
            (
                r#"{"status":"success","data":{"result":[{"metric":{"pod":"a"},"value":[1,"1"]}],"resultType":"vector"}}"#,
                "got an instant sample",
            ),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"pod":"a"},"values":[[1,"lots"]]}]}}"#,
                r#"sample value "lots" is not a number"#,
            ),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"h"},"histograms":[[1,{"count":"1"}]]}]}}"#,
                r#"series {"__name__": "h"} is a native histogram"#,
            ),
            (r#"{"status":"success"}"#, "no \"data\""),
            (
                r#"{"data":{"resultType":"matrix","result":[]}}"#,
                "no \"status\"",
            ),
            (r#"{"status":"maybe"}"#, "unknown status \"maybe\""),
            ("<html>login</html>", "expected value"),
        ] {
            let problem = decode(body).unwrap_err();
            assert!(problem.contains(complaint), "{body}: {problem}");
        }
    }

    #[test]
    fn a_cut_answer_is_an_end_of_file_not_a_bad_answer() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]"#;
        let error = decode_matrix_from(body.as_bytes(), |_: Labels, _| {}).unwrap_err();
        assert!(error.is_eof(), "{error}");
        let trailing = r#"{"status":"success","data":{"resultType":"matrix","result":[]}} x"#;
        let error = decode_matrix_from(trailing.as_bytes(), |_: Labels, _| {}).unwrap_err();
        assert!(error.is_syntax(), "{error}");
    }
}
