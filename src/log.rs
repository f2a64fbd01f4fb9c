//! Logs on stderr: human-readable lines, or one JSON object per line with `LOG_TYPE=json` (shell-operator turns
//! those into structured records). stdout is reserved for what was asked for (`--config`, a plan).

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

/// Logs `message` with structured `fields` (shown as `key=value` in text).
pub fn log(level: Level, message: &str, fields: &[(&str, Value)]) {
    let logger = logger();
    if level < logger.level {
        return;
    }
    let line = render(logger.format, level, message, fields, &now_rfc3339());
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
    fn unknown_log_types_fall_back_to_text() {
        assert_eq!(Format::parse("color"), Format::Text);
        assert_eq!(Format::parse("JSON"), Format::Json);
    }
}
