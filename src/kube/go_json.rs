//! JSON spelled the way kube-apiserver spells the objects it stores, for JSON Patch bodies.
//!
//! A JSON Patch `test` only passes when its value is byte-for-byte the stored value, so every string in a
//! `test` must be written as the server writes it:
//! - k8s.io/apiserver `pkg/endpoints/handlers/patch.go` (`jsonPatcher.applyPatchToCurrentObject`) encodes the
//!   stored object with `runtime.Encode`; apimachinery `pkg/runtime/serializer/json/json.go` (`doEncode`) uses
//!   Go's `json.NewEncoder`, whose HTML escaping is on by default.
//! - gopkg.in/evanphx/json-patch.v4 `patch.go` (`lazyNode.equal`) compares leaves with `bytes.Equal` after
//!   `json.Compact`, which changes no escape: `">"` and `"\u003e"` differ.
//! - Go `src/encoding/json/encode.go` (`appendString`, tables `htmlSafeSet`) writes `<` `>` `&` as `\u003c`
//!   `\u003e` `\u0026` and U+2028/U+2029 as `\u2028`/`\u2029`; `"` and `\` as `\"` `\\`; `\b` `\f` `\n` `\r`
//!   `\t` short; other bytes below 0x20 as `\u00XX` in lower-case hex; DEL and other non-ASCII raw.
//!
//! serde_json already agrees on the last three rules (its `CharEscape` table and lower-case hex), so only the
//! HTML characters and the two separators need a [`Formatter`] of their own. (Go also writes invalid UTF-8 as
//! `\ufffd`; a Rust `str` cannot hold any.)

use serde::Serialize;
use serde_json::ser::Formatter;
use std::io;

/// serde_json's compact output with Go's extra escapes.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let mut start = 0;
        for (index, character) in fragment.char_indices() {
            let escape: &[u8] = match character {
                '<' => br"\u003c",
                '>' => br"\u003e",
                '&' => br"\u0026",
                '\u{2028}' => br"\u2028",
                '\u{2029}' => br"\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..index])?;
            writer.write_all(escape)?;
            start = index + character.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// `value` as compact JSON with Go's escapes.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    value.serialize(&mut serializer)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encoded(text: &str) -> String {
        String::from_utf8(to_vec(&json!(text)).unwrap()).unwrap()
    }

    #[test]
    fn html_characters_and_separators_are_escaped_as_go_does() {
        assert_eq!(encoded("cpu 91% > 80%"), r#""cpu 91% \u003e 80%""#);
        assert_eq!(encoded("a<b&c"), r#""a\u003cb\u0026c""#);
        assert_eq!(encoded("x\u{2028}y\u{2029}"), r#""x\u2028y\u2029""#);
    }

    #[test]
    fn control_characters_quotes_and_non_ascii_follow_go() {
        assert_eq!(
            encoded("\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}"),
            "\"\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}\""
        );
        assert_eq!(encoded(r#"q"b\"#), r#""q\"b\\""#);
        assert_eq!(encoded("é日本🌡"), "\"é日本🌡\"");
    }

    #[test]
    fn keys_are_escaped_too_and_the_output_is_compact() {
        let body = to_vec(&json!({"a>b": [1, "&"]})).unwrap();
        assert_eq!(body, br#"{"a\u003eb":[1,"\u0026"]}"#);
    }
}
