//! Decoding `/api/v1/query` and `/api/v1/query_range` answers. Pure: unit-tested on answer texts as Prometheus
//! and compatible servers write them.

use super::Sample;
use serde::Deserialize;
use serde::Deserializer as _;
use serde::de::{self, DeserializeOwned, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    Vector(VectorResult),
    Scalar(f64),
    String(String),
    /// A range query's answer, or a range selector (`x[5m]`) evaluated as an instant query.
    Matrix(Vec<RangeSeries>),
}

/// An instant vector, kept as the server wrote it (already checked) so that a large answer goes straight into
/// what the caller keeps ([`VectorResult::for_each`] with a struct of the labels it needs): a map of every label
/// per sample costs hundreds of bytes a sample, and a cluster-wide answer has hundreds of thousands.
#[derive(Debug, Clone)]
pub struct VectorResult {
    /// The whole answer body, and where the result array lies in it: no copy of a large answer.
    body: String,
    result: Range<usize>,
}

impl PartialEq for VectorResult {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl VectorResult {
    /// Calls `each` with every sample's labels, decoded as `L` (a struct naming the labels wanted; others are
    /// skipped), and its value (NaN and ±Inf included). Returns the number of samples.
    pub fn for_each<L, F>(&self, each: F) -> Result<usize, String>
    where
        L: DeserializeOwned + Default + fmt::Debug,
        F: FnMut(L, f64),
    {
        for_each_sample(self.text(), each)
    }

    fn text(&self) -> &str {
        &self.body[self.result.clone()]
    }

    /// Every sample with all its labels.
    pub fn samples(&self) -> Result<Vec<Sample>, String> {
        let mut samples = Vec::new();
        self.for_each(|labels, value| samples.push(Sample { labels, value }))?;
        Ok(samples)
    }
}

/// [`VectorResult::for_each`] over the text of a vector result.
fn for_each_sample<L, F>(text: &str, mut each: F) -> Result<usize, String>
where
    L: DeserializeOwned + Default + fmt::Debug,
    F: FnMut(L, f64),
{
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let visitor = EachSample {
        each: &mut each,
        labels: PhantomData,
    };
    deserializer
        .deserialize_seq(visitor)
        .map_err(|e| format!("malformed vector result: {e}"))
}

#[derive(Deserialize)]
struct VectorElement<'a, L> {
    #[serde(default)]
    metric: L,
    #[serde(borrow)]
    value: Option<(f64, Cow<'a, str>)>,
    histogram: Option<IgnoredAny>,
}

struct EachSample<'f, L, F> {
    each: &'f mut F,
    labels: PhantomData<L>,
}

impl<'de, L, F> Visitor<'de> for EachSample<'_, L, F>
where
    L: DeserializeOwned + Default + fmt::Debug,
    F: FnMut(L, f64),
{
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of samples")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut count = 0;
        while let Some(element) = seq.next_element::<VectorElement<'de, L>>()? {
            let Some((_, text)) = element.value else {
                return Err(de::Error::custom(if element.histogram.is_some() {
                    native_histogram(&element.metric)
                } else {
                    format!("series {:?} has no \"value\"", element.metric)
                }));
            };
            let value = parse_value(&text).map_err(de::Error::custom)?;
            (self.each)(element.metric, value);
            count += 1;
        }
        Ok(count)
    }
}

/// One series of a matrix result.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: BTreeMap<String, String>,
    /// `(unix seconds, value)`, oldest first.
    pub points: Vec<(f64, f64)>,
}

/// A successful answer with what the server said about it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryAnswer {
    pub result: QueryResult,
    /// The server's `warnings` (e.g. partial data from a Thanos store), verbatim: log them.
    pub warnings: Vec<String>,
    /// The server's `infos` (newer Prometheus: e.g. a `rate` on something not looking like a counter).
    pub infos: Vec<String>,
}

impl QueryResult {
    /// The samples of a vector result, with all their labels; an error naming the actual type otherwise.
    pub fn into_vector(self) -> Result<Vec<Sample>, String> {
        self.vector()?.samples()
    }

    /// A vector result, to decode with [`VectorResult::for_each`].
    pub fn vector(&self) -> Result<&VectorResult, String> {
        match self {
            Self::Vector(vector) => Ok(vector),
            other => Err(format!(
                "expected an instant vector, got a {}",
                other.kind()
            )),
        }
    }

    /// The series of a matrix result (a range query's answer); an error naming the actual type otherwise.
    pub fn into_matrix(self) -> Result<Vec<RangeSeries>, String> {
        match self {
            Self::Matrix(series) => Ok(series),
            other => Err(format!("expected a range vector, got a {}", other.kind())),
        }
    }

    /// The value of a scalar result, or of a vector with exactly one sample.
    pub fn into_single_value(self) -> Result<f64, String> {
        match self {
            Self::Scalar(value) => Ok(value),
            Self::Vector(vector) => {
                let samples = vector.samples()?;
                match samples.as_slice() {
                    [sample] => Ok(sample.value),
                    _ => Err(format!("expected one sample, got {}", samples.len())),
                }
            }
            other => Err(format!("expected a scalar, got a {}", other.kind())),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Vector(_) => "vector",
            Self::Scalar(_) => "scalar",
            Self::String(_) => "string",
            Self::Matrix(_) => "matrix",
        }
    }
}

/// What a body says, independent of the HTTP status.
#[derive(Debug, PartialEq)]
pub(crate) enum Decoded<A = QueryAnswer> {
    Success(A),
    /// `"status":"error"`: `errorType` and `error` verbatim (either may be missing in the wild).
    ApiError {
        error_type: Option<String>,
        error: Option<String>,
        warnings: Vec<String>,
    },
}

#[derive(Deserialize)]
struct Envelope<'a> {
    status: Option<String>,
    #[serde(borrow)]
    data: Option<Data<'a>>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
    #[serde(default)]
    infos: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(rename = "resultType")]
    result_type: String,
    /// Kept as text: decoded once its type is known, without a `serde_json::Value` of the whole answer.
    #[serde(borrow)]
    result: &'a RawValue,
}

#[derive(Deserialize)]
struct MatrixElement<'a> {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default, borrow)]
    values: Vec<(f64, Cow<'a, str>)>,
    #[serde(default)]
    histograms: Vec<IgnoredAny>,
}

/// Decodes an answer body. `Err` says what is wrong with it (not JSON, unknown shape, bad value) and gives the
/// body back for the message.
pub(crate) fn decode(body: String) -> Result<Decoded, (String, String)> {
    match decode_borrowed(&body) {
        Ok(Parsed::Vector {
            result,
            warnings,
            infos,
        }) => Ok(Decoded::Success(QueryAnswer {
            result: QueryResult::Vector(VectorResult { body, result }),
            warnings,
            infos,
        })),
        Ok(Parsed::Done(decoded)) => Ok(decoded),
        Err(problem) => Err((problem, body)),
    }
}

/// What [`decode_borrowed`] found: a vector stays in the body, at `result`.
enum Parsed {
    Vector {
        result: Range<usize>,
        warnings: Vec<String>,
        infos: Vec<String>,
    },
    Done(Decoded),
}

fn decode_borrowed(body: &str) -> Result<Parsed, String> {
    let envelope: Envelope = serde_json::from_str(body)
        .map_err(|e| format!("answer is not a Prometheus API response: {e}"))?;
    let warnings = envelope.warnings.unwrap_or_default();
    if !succeeded(envelope.status.as_deref())? {
        return Ok(Parsed::Done(Decoded::ApiError {
            error_type: envelope.error_type,
            error: envelope.error,
            warnings,
        }));
    }
    let data = envelope.data.ok_or(NO_DATA)?;
    let infos = envelope.infos.unwrap_or_default();
    let text = data.result.get();
    let result = match data.result_type.as_str() {
        "vector" => {
            // Checked now, so a malformed answer is an error of the query (not retried, naming the URL). The
            // check skips labels; only a failure is decoded again with them, for a message naming the series.
            if for_each_sample(text, |_: IgnoredAny, _| {}).is_err() {
                for_each_sample(text, |_: BTreeMap<String, String>, _| {})?;
            }
            // The borrowed result is a slice of the body.
            let start = text.as_ptr() as usize - body.as_ptr() as usize;
            let result = start..start + text.len();
            return Ok(Parsed::Vector {
                result,
                warnings,
                infos,
            });
        }
        other => decode_other(other, text)?,
    };
    Ok(Parsed::Done(Decoded::Success(QueryAnswer {
        result,
        warnings,
        infos,
    })))
}

fn decode_other(result_type: &str, text: &str) -> Result<QueryResult, String> {
    match result_type {
        "scalar" => {
            let (_, text): (f64, String) =
                serde_json::from_str(text).map_err(|e| format!("malformed scalar result: {e}"))?;
            Ok(QueryResult::Scalar(parse_value(&text)?))
        }
        "string" => {
            let (_, text): (f64, String) =
                serde_json::from_str(text).map_err(|e| format!("malformed string result: {e}"))?;
            Ok(QueryResult::String(text))
        }
        "matrix" => {
            let elements: Vec<MatrixElement> =
                serde_json::from_str(text).map_err(|e| format!("malformed matrix result: {e}"))?;
            elements
                .into_iter()
                .map(|element| {
                    if element.values.is_empty() && !element.histograms.is_empty() {
                        return Err(native_histogram(&element.metric));
                    }
                    let points = element
                        .values
                        .into_iter()
                        .map(|(at, text)| Ok((at, parse_value(&text)?)))
                        .collect::<Result<_, String>>()?;
                    Ok(RangeSeries {
                        labels: element.metric,
                        points,
                    })
                })
                .collect::<Result<_, _>>()
                .map(QueryResult::Matrix)
        }
        other => Err(format!("unknown resultType {other:?}")),
    }
}

/// An answer's `status`: `true` for a success, `false` for an API error (read `errorType` and `error`), `Err` for
/// anything else. Shared by the buffered and the streamed decoders, so both say the same.
pub(crate) fn succeeded(status: Option<&str>) -> Result<bool, String> {
    match status {
        Some("success") => Ok(true),
        Some("error") => Ok(false),
        Some(other) => Err(format!("answer has unknown status {other:?}")),
        None => Err("answer has no \"status\"".to_owned()),
    }
}

pub(crate) const NO_DATA: &str = "successful answer has no \"data\"";

/// The refusal of a native histogram series (its buckets are not one value).
pub(crate) fn native_histogram(series: &dyn fmt::Debug) -> String {
    format!("series {series:?} is a native histogram, which is not supported here")
}

/// Sample values are strings: Go's float formatting ("1.5", "1e-67", "NaN", "+Inf", "-Inf").
pub(crate) fn parse_value(text: &str) -> Result<f64, String> {
    // Rust's parser accepts "NaN", "+Inf" and "-Inf" (case-insensitive "nan"/"inf"), and every Go float format.
    text.parse::<f64>()
        .map_err(|_| format!("sample value {text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn success(body: &str) -> QueryAnswer {
        match decode(body.to_string()) {
            Ok(Decoded::Success(answer)) => answer,
            other => panic!("expected success, got {other:?}"),
        }
    }

    #[test]
    fn vector_with_special_values_and_fractional_timestamps() {
        let answer = success(
            r#"{"status":"success","data":{"resultType":"vector","result":[
                {"metric":{"node":"a"},"value":[1700000000.123,"0.25"]},
                {"metric":{"node":"b"},"value":[1700000000,"NaN"]},
                {"metric":{"node":"c"},"value":[1700000000,"+Inf"]},
                {"metric":{"node":"d"},"value":[1700000000,"-Inf"]},
                {"metric":{},"value":[1700000000,"1.2345678e-67"]}]}}"#,
        );
        let samples = answer.result.into_vector().unwrap();
        assert_eq!(samples[0].value, 0.25);
        assert_eq!(samples[0].label("node"), Some("a"));
        assert!(samples[1].value.is_nan());
        assert_eq!(samples[2].value, f64::INFINITY);
        assert_eq!(samples[3].value, f64::NEG_INFINITY);
        assert_eq!(samples[4].value, 1.2345678e-67);
        assert!(samples[4].labels.is_empty());
    }

    #[test]
    fn warnings_before_data_and_unknown_fields_are_accepted() {
        let answer = success(
            r#"{"status":"success","warnings":["partial response: store x down"],"infos":["PromQL info: x"],
                "data":{"resultType":"scalar","result":[1700000000,"3"],"stats":{"timings":{}}},"extra":1}"#,
        );
        assert_eq!(answer.result, QueryResult::Scalar(3.0));
        assert_eq!(answer.warnings, ["partial response: store x down"]);
        assert_eq!(answer.infos, ["PromQL info: x"]);
    }

    #[test]
    fn error_answer_keeps_type_and_message_verbatim_even_with_data() {
        let decoded = decode(
            r#"{"status":"error","data":{"resultType":"","result":null},"errorType":"bad_data",
                "error":"1:5: parse error: unexpected end of input"}"#
                .to_string(),
        )
        .unwrap();
        assert_eq!(
            decoded,
            Decoded::ApiError {
                error_type: Some("bad_data".into()),
                error: Some("1:5: parse error: unexpected end of input".into()),
                warnings: vec![],
            }
        );
        let bare = decode(r#"{"status":"error"}"#.to_string()).unwrap();
        assert!(matches!(bare, Decoded::ApiError { error: None, .. }));
    }

    #[test]
    fn string_and_matrix_results_are_decoded() {
        let string =
            success(r#"{"status":"success","data":{"resultType":"string","result":[1,"hi"]}}"#);
        assert_eq!(string.result, QueryResult::String("hi".into()));
        let matrix = success(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
                {"metric":{"a":"b"},"values":[[1,"1"],[2,"NaN"]]}]}}"#,
        );
        let QueryResult::Matrix(series) = matrix.result else {
            panic!("not a matrix")
        };
        assert_eq!(series[0].points.len(), 2);
        assert!(series[0].points[1].1.is_nan());
    }

    #[test]
    fn malformed_answers_say_what_is_wrong() {
        assert!(
            decode("<html>login</html>".to_string())
                .unwrap_err()
                .0
                .contains("not a Prometheus API response")
        );
        assert!(
            decode(r#"{"status":"success"}"#.to_string())
                .unwrap_err()
                .0
                .contains("no \"data\"")
        );
        let bad_value =
            r#"{"status":"success","data":{"resultType":"scalar","result":[1,"lots"]}}"#;
        assert!(
            decode(bad_value.to_string())
                .unwrap_err()
                .0
                .contains(r#""lots""#)
        );
        let histogram = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"h"},"histogram":[1,{"count":"1"}]}]}}"#;
        let problem = decode(histogram.to_string()).unwrap_err().0;
        assert!(problem.contains("native histogram"), "{problem}");
        assert!(
            problem.contains(r#""__name__": "h""#),
            "names the series: {problem}"
        );
    }
}
