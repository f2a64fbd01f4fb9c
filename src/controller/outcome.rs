//! How a controller runs this time ([`RunOptions`]) and what it did ([`Outcome`]), for the tick's report.
//!
//! Plain data: imports nothing of the crate.

/// How a controller runs this time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunOptions {
    pub dry_run: bool,
    /// taint-nodes only: remove our taints everywhere.
    pub remove_all: bool,
    /// The plan is printed (`run`) or logged (shadow mode) as text, or printed as JSON: only then is it
    /// rendered so, since the text or JSON of a cluster-wide plan costs more memory than the plan itself.
    pub plan_as_text: bool,
    pub plan_as_json: bool,
}

/// What a controller did in a tick, for the report.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// The plan for people (`run`, shadow mode logs).
    pub plan_text: String,
    /// The plan for `--output json`.
    pub plan_json: serde_json::Value,
    /// Writes that changed an object.
    pub changed: usize,
    /// Writes refused by a concurrent change (409 / failed test) and retried after a re-read.
    pub conflicts: usize,
    /// Per-object failures: the tick goes on with the other objects and exits non-zero.
    pub failures: Vec<String>,
    /// Why the controller made no writes on purpose although it had decided some (fail-safe): exits non-zero.
    pub refused: Option<String>,
}

impl Outcome {
    /// An outcome carrying `plan` rendered only as this run shows it (see [`RunOptions::plan_as_text`]).
    pub fn showing<P: serde::Serialize>(
        options: &RunOptions,
        plan: &P,
        as_text: impl FnOnce(&P) -> String,
    ) -> Outcome {
        Outcome {
            plan_text: if options.plan_as_text {
                as_text(plan)
            } else {
                String::new()
            },
            plan_json: if options.plan_as_json {
                serde_json::to_value(plan).unwrap_or_default()
            } else {
                serde_json::Value::Null
            },
            ..Outcome::default()
        }
    }

    /// Whether the tick of this controller succeeded: no failure and no fail-safe refusal.
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && self.refused.is_none()
    }
}
