//! Logs on stderr: human-readable lines, or one JSON object per line with `LOG_TYPE=json` (shell-operator turns
//! those into structured records). stdout is reserved for what was asked for (`--config`, a plan).
//!
//! Every line is bounded, whatever the input: shell-operator re-parses each line of a hook's output, turns a
//! record over 10,000 characters into one truncated field and drops a `{...` line it cannot parse in one read
//! (shell-operator `pkg/executor/executor.go`, `proxyLogger`). So a line that would be longer than
//! [`MAX_LINE_BYTES`] has its longest values cut, each marked with how much was cut.

use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn parse(text: &str) -> Option<Level> {
        match text.trim().to_ascii_lowercase().as_str() {
            "debug" | "trace" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" | "warning" => Some(Level::Warn),
            "error" => Some(Level::Error),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    /// shell-operator's `LOG_TYPE` values: `json`, or `text`/`color` (anything else is text, never an error:
    /// the log must work before settings are checked).
    pub fn parse(text: &str) -> Format {
        if text.trim().eq_ignore_ascii_case("json") {
            Format::Json
        } else {
            Format::Text
        }
    }
}

struct Logger {
    format: Format,
    level: Level,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets the format and level once, at start-up; later calls are ignored.
pub fn init(format: Format, level: Level) {
    let _ = LOGGER.set(Logger { format, level });
}

fn logger() -> &'static Logger {
    LOGGER.get_or_init(|| Logger {
        format: Format::Text,
        level: Level::Info,
    })
}

/// Whether messages of `level` are written: what is not shown need not be built.
pub fn enabled(level: Level) -> bool {
    level >= logger().level
}

/// The longest line written, in bytes: under shell-operator's 10,000-character limit with room for the fields it
/// adds when it re-logs the record.
pub const MAX_LINE_BYTES: usize = 8_000;
/// A value is not cut shorter than this (unless the line cannot fit otherwise): enough to say what it was.
const MIN_CUT_BYTES: usize = 200;

/// Logs `message` with structured `fields` (shown as `key=value` in text). The line is at most
/// [`MAX_LINE_BYTES`] long.
pub fn log(level: Level, message: &str, fields: &[(&str, Value)]) {
    let logger = logger();
    if level < logger.level {
        return;
    }
    let line = render_bounded(logger.format, level, message, fields, &now_rfc3339());
    // A closed stderr leaves nothing sensible to do: the tick's outcome is in its exit code.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn now_rfc3339() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    k8s_openapi::jiff::Timestamp::from_millisecond(millis)
        .unwrap_or_default()
        .to_string()
}

/// [`render`], with the longest values cut until the line fits in [`MAX_LINE_BYTES`].
fn render_bounded(
    format: Format,
    level: Level,
    message: &str,
    fields: &[(&str, Value)],
    time: &str,
) -> String {
    let line = render(format, level, message, fields, time);
    if line.len() <= MAX_LINE_BYTES {
        return line;
    }
    // Values as texts (a list or an object by its JSON), the message first; the longest is cut until it fits.
    let originals: Vec<String> = std::iter::once(message.to_owned())
        .chain(fields.iter().map(|(_, value)| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        }))
        .collect();
    let mut keep: Vec<usize> = originals.iter().map(String::len).collect();
    for _ in 0..4 * originals.len() + 16 {
        let texts: Vec<String> = originals
            .iter()
            .zip(&keep)
            .map(|(text, keep)| cut(text, *keep))
            .collect();
        let cut_fields: Vec<(&str, Value)> = fields
            .iter()
            .zip(texts.iter().zip(&originals).skip(1))
            .map(|((key, value), (text, original))| {
                let value = if text.len() == original.len() {
                    value.clone()
                } else {
                    Value::String(text.clone())
                };
                (*key, value)
            })
            .collect();
        let line = render(format, level, &texts[0], &cut_fields, time);
        let over = line.len().saturating_sub(MAX_LINE_BYTES);
        if over == 0 {
            return line;
        }
        let Some((longest, kept)) = keep
            .iter()
            .copied()
            .enumerate()
            .max_by_key(|(_, kept)| *kept)
        else {
            break;
        };
        if kept <= MIN_CUT_BYTES {
            break;
        }
        // Escapes make a rendered value longer than its text: cut a little more than is over.
        keep[longest] = kept.saturating_sub(over + over / 8 + 64).max(MIN_CUT_BYTES);
    }
    // Too many values to keep each readable: the message and every field as one text, cut to fit.
    let all = Value::Object(
        fields
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.clone()))
            .collect(),
    )
    .to_string();
    let message = cut(message, 1_000);
    let mut keep = MAX_LINE_BYTES;
    loop {
        let line = render(
            format,
            level,
            &message,
            &[("fields", Value::String(cut(&all, keep)))],
            time,
        );
        if line.len() <= MAX_LINE_BYTES || keep == 0 {
            return line;
        }
        keep = keep * 3 / 4;
    }
}

/// The first `keep` bytes of `text` (on a character boundary), marked with how much was cut; `text` itself
/// when it is no longer.
fn cut(text: &str, keep: usize) -> String {
    if text.len() <= keep {
        return text.to_owned();
    }
    let mut end = keep;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} bytes cut]", &text[..end], text.len() - end)
}

fn render(
    format: Format,
    level: Level,
    message: &str,
    fields: &[(&str, Value)],
    time: &str,
) -> String {
    match format {
        Format::Json => {
            let mut object = Map::new();
            object.insert("level".into(), level.as_str().into());
            object.insert("msg".into(), message.into());
            object.insert("time".into(), time.into());
            for (key, value) in fields {
                object.insert((*key).to_owned(), value.clone());
            }
            Value::Object(object).to_string()
        }
        Format::Text => {
            // One record, one line: a message quoting a multi-line answer keeps its line breaks escaped.
            let message = message.replace('\n', "\\n");
            let mut line = format!("{time} {:<5} {message}", level.as_str().to_uppercase());
            for (key, value) in fields {
                match value {
                    Value::String(text)
                        if !text.contains(char::is_whitespace) && !text.is_empty() =>
                    {
                        line.push_str(&format!(" {key}={text}"));
                    }
                    other => line.push_str(&format!(" {key}={other}")),
                }
            }
            line
        }
    }
}

pub fn debug(message: &str, fields: &[(&str, Value)]) {
    log(Level::Debug, message, fields);
}

pub fn info(message: &str, fields: &[(&str, Value)]) {
    log(Level::Info, message, fields);
}

pub fn warn(message: &str, fields: &[(&str, Value)]) {
    log(Level::Warn, message, fields);
}

pub fn error(message: &str, fields: &[(&str, Value)]) {
    log(Level::Error, message, fields);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_lines_are_single_objects_with_fields() {
        let line = render(
            Format::Json,
            Level::Info,
            "tainted",
            &[("node", json!("n1"))],
            "T",
        );
        assert_eq!(
            line,
            r#"{"level":"info","msg":"tainted","node":"n1","time":"T"}"#
        );
    }

    #[test]
    fn text_lines_quote_values_with_spaces() {
        let line = render(
            Format::Text,
            Level::Warn,
            "skipped",
            &[("why", json!("no data")), ("n", json!(3))],
            "T",
        );
        assert_eq!(line, r#"T WARN  skipped why="no data" n=3"#);
    }

    #[test]
    fn lines_stay_under_the_bound_whatever_the_values() {
        let long = "x".repeat(50_000);
        let quoted = "\"<>&\n".repeat(10_000);
        let many: Vec<(String, Value)> = (0..2_000)
            .map(|i| (format!("field{i}"), json!("y".repeat(100))))
            .collect();
        let mut cases: Vec<(String, Vec<(&str, Value)>)> = vec![
            (long.clone(), vec![]),
            (
                "m".into(),
                vec![("error", json!(long)), ("query", json!(quoted))],
            ),
            ("m".into(), vec![("list", json!(vec![long.as_str(); 3]))]),
            ("ünïcödé".repeat(5_000), vec![("n", json!(1))]),
            ("two\nlines".into(), vec![]),
        ];
        cases.push((
            "many".into(),
            many.iter().map(|(k, v)| (k.as_str(), v.clone())).collect(),
        ));
        for format in [Format::Json, Format::Text] {
            for (message, fields) in &cases {
                let line = render_bounded(format, Level::Info, message, fields, "T");
                assert!(line.len() <= MAX_LINE_BYTES, "{} bytes", line.len());
                assert!(!line.contains('\n'));
                if format == Format::Json {
                    let parsed: Value = serde_json::from_str(&line).expect("valid JSON");
                    assert!(parsed["msg"].is_string());
                }
            }
        }
        // What is cut says so, and a short line is left alone.
        let line = render_bounded(
            Format::Json,
            Level::Info,
            "m",
            &[("error", json!(long))],
            "T",
        );
        assert!(line.contains("bytes cut]"), "{line}");
        let short = render_bounded(Format::Json, Level::Info, "m", &[("n", json!(1))], "T");
        assert_eq!(
            short,
            render(Format::Json, Level::Info, "m", &[("n", json!(1))], "T")
        );
    }

    #[test]
    fn unknown_log_types_fall_back_to_text() {
        assert_eq!(Format::parse("color"), Format::Text);
        assert_eq!(Format::parse("JSON"), Format::Json);
    }
}
