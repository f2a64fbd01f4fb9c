//! An error and its causes on one line, as logs show them: `outer: cause: root cause`.
//!
//! Errors here follow one of two habits: a layer that adds context and leaves the detail to its `source()`
//! (anyhow's contexts, the Prometheus client's query error), or a whole message that quotes its underlying error
//! while `source()` still returns it for callers that inspect it (the Kubernetes client's errors, as
//! `std::io::Error` quotes what it wraps). A cause whose text the layer above already contains is therefore not
//! repeated. Imports nothing of the crate.

use std::error::Error;
use std::fmt::Write;

/// `error`, then each cause its parent does not already quote, joined by `": "`.
pub fn render(error: &(dyn Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut parent = line.clone();
    let mut cause = error.source();
    while let Some(current) = cause {
        let text = current.to_string();
        if !parent.contains(&text) {
            let _ = write!(line, ": {text}");
        }
        parent = text;
        cause = current.source();
    }
    line
}

/// [`render`] for an [`anyhow::Error`] and its contexts.
pub fn render_anyhow(error: &anyhow::Error) -> String {
    render(error.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1
                .as_deref()
                .map(|layer| layer as &(dyn Error + 'static))
        }
    }

    #[test]
    fn context_layers_are_joined_and_quoted_causes_are_not_repeated() {
        let root = Layer("Connection refused", None);
        let quoting = Layer(
            "get https://k8s/version: io: Connection refused",
            Some(Box::new(root)),
        );
        let context = anyhow::Error::new(quoting).context("reading the API server version");
        assert_eq!(
            render_anyhow(&context),
            "reading the API server version: get https://k8s/version: io: Connection refused"
        );
        let plain = Layer(
            "gave up after 3 attempts",
            Some(Box::new(Layer("HTTP 503: busy", None))),
        );
        assert_eq!(render(&plain), "gave up after 3 attempts: HTTP 503: busy");
    }
}
