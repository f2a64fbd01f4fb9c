//! PromQL string literals.

/// Escapes `value` for use inside a double-quoted PromQL string, e.g. in `{pod="…"}`; the caller adds the quotes.
///
/// PromQL's lexer (promql/parser/lex.go `lexString`, `lexEscape`) follows Go's rules: a backslash starts an
/// escape, the opening quote ends the string, and a raw newline is an error ("unterminated quoted string").
/// Other control characters are written as `\uXXXX` so a query stays one printable line in logs.
/// Everything else, including any Unicode, goes through as is.
pub fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if c.is_control() => escaped.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quotes_backslashes_and_newlines_are_escaped() {
        assert_eq!(escape_label_value(r#"a"b"#), r#"a\"b"#);
        assert_eq!(escape_label_value(r"C:\temp"), r"C:\\temp");
        assert_eq!(escape_label_value("two\nlines"), r"two\nlines");
        assert_eq!(escape_label_value("bell\u{7}"), r"bell\u0007");
    }

    #[test]
    fn ordinary_names_and_unicode_are_unchanged() {
        for value in [
            "node-1",
            "kube-system",
            "10.0.0.1:9100",
            "",
            "ünïcødé-节点",
            "a'b`c{}=~!",
        ] {
            assert_eq!(escape_label_value(value), value);
        }
    }

    /// Undoes the escaping as PromQL's lexer would (only the escapes we produce).
    fn unescape(text: &str) -> Option<String> {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '"' || c == '\n' {
                return None; // would end the literal early or break it
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next()? {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                _ => return None,
            }
        }
        Some(out)
    }

    proptest! {
        #[test]
        fn escaping_round_trips_and_never_ends_the_literal_early(value in any::<String>()) {
            let escaped = escape_label_value(&value);
            prop_assert_eq!(unescape(&escaped), Some(value));
        }
    }
}
