//! JSON Pointer (RFC 6901) paths for JSON Patch operations. Pure; imports nothing.

/// A token of a JSON Pointer: `~` → `~0`, then `/` → `~1` (an annotation key holds a `/`).
pub fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tilde_is_escaped_before_slash() {
        assert_eq!(super::escape_pointer_token("a~b/c"), "a~0b~1c");
        assert_eq!(super::escape_pointer_token("~1"), "~01");
    }
}
