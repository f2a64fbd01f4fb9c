//! The act step both controllers share: a write that, refused on a concurrent change, re-reads its object,
//! decides again and tries the new write, a bounded number of times ([`write_with_rereads`]); and posting the
//! Event of a change made ([`Tick::post_event`]).
//!
//! Imports the Kubernetes client, [`crate::events`] and logging; what a write and a re-read are is each
//! controller's ([`Rewrite`]).

use serde_json::json;

use super::context::{Tick, wall_clock};
use super::outcome::Outcome;
use crate::events::{self, EventSpec};
use crate::kube::{ApiResource, KubeError};
use crate::log;

/// What one controller writes and how it decides a write again, for [`write_with_rereads`].
pub(crate) trait Rewrite {
    /// One object's planned write.
    type Write;
    /// What a write that went through tells the controller.
    type Written;
    /// What a re-read that found no write needed any more tells the controller.
    type NotNeeded;
    /// Why the whole tick stops (every other object would fail the same way).
    type Fatal;

    /// The kind of object, as logs and failures name it (`node`, `pod`).
    const KIND: &'static str;

    /// The object, as logs and failures name it.
    fn subject(write: &Self::Write) -> String;

    /// One try of the write. Logging what was done, and that the object is gone, is the controller's.
    fn try_write(&mut self, write: &Self::Write) -> Attempt<Self>;

    /// After a conflict: reads the object again and decides its write again with it.
    fn reread(&mut self, write: &Self::Write) -> Reread<Self>;
}

/// What one try of a write came to.
pub(crate) enum Attempt<R: Rewrite + ?Sized> {
    Written(R::Written),
    /// Refused because the object changed since it was read: re-read it and decide again.
    Conflict(KubeError),
    /// The object was deleted since it was read: nothing to do.
    Gone,
    Failed(KubeError),
    Fatal(R::Fatal),
}

/// What re-reading an object and deciding again came to.
pub(crate) enum Reread<R: Rewrite + ?Sized> {
    /// The write decided with the object as it is now.
    Decided(R::Write),
    /// Decided again, no write is needed (someone else made the change).
    NotNeeded(R::NotNeeded),
    Gone,
    Failed(KubeError),
}

/// What became of one planned write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteEnd<W, N> {
    /// Made (counted in [`Outcome::changed`]).
    Written(W),
    /// Not needed after a re-read.
    NotNeeded(N),
    /// The object was deleted since it was read.
    Gone,
    /// Failed (recorded in [`Outcome::failures`]): the object stays as read.
    Failed,
}

/// The result of [`write_with_rereads`] for one controller.
pub(crate) type WriteResult<R> = WriteEnd<<R as Rewrite>::Written, <R as Rewrite>::NotNeeded>;

/// Writes one object. On a conflict the object is re-read, its write decided again and tried, at most
/// `max_rereads` times; then the conflict is a failure. Changes, conflicts and failures are counted in
/// `outcome`; other objects go on after a failure, and only a fatal error stops the tick.
pub(crate) fn write_with_rereads<R: Rewrite>(
    rewrite: &mut R,
    mut write: R::Write,
    max_rereads: usize,
    outcome: &mut Outcome,
) -> Result<WriteResult<R>, R::Fatal> {
    let mut rereads = 0;
    loop {
        let conflict = match rewrite.try_write(&write) {
            Attempt::Written(written) => {
                outcome.changed += 1;
                return Ok(WriteEnd::Written(written));
            }
            Attempt::Gone => return Ok(WriteEnd::Gone),
            Attempt::Fatal(fatal) => return Err(fatal),
            Attempt::Conflict(error) if rereads < max_rereads => error,
            Attempt::Conflict(error) | Attempt::Failed(error) => {
                return Ok(failed::<R>(outcome, &write, &error));
            }
        };
        rereads += 1;
        outcome.conflicts += 1;
        log::info(
            &format!(
                "{} changed since read: re-reading and deciding again",
                R::KIND
            ),
            &[
                (R::KIND, json!(R::subject(&write))),
                ("error", json!(conflict.to_string())),
            ],
        );
        match rewrite.reread(&write) {
            Reread::Decided(next) => write = next,
            Reread::NotNeeded(not_needed) => return Ok(WriteEnd::NotNeeded(not_needed)),
            Reread::Gone => return Ok(WriteEnd::Gone),
            Reread::Failed(error) => return Ok(failed::<R>(outcome, &write, &error)),
        }
    }
}

fn failed<R: Rewrite>(
    outcome: &mut Outcome,
    write: &R::Write,
    error: &KubeError,
) -> WriteResult<R> {
    outcome
        .failures
        .push(format!("{} {}: {error}", R::KIND, R::subject(write)));
    WriteEnd::Failed
}

impl Tick {
    /// Posts an Event about a change we made. Best effort: one that cannot be written (RBAC, validation, API
    /// trouble) is logged with the server's message and counted, never fatal, since the change itself is done.
    /// The name is client-go's (`events::event_name`); the tick's one `now` plus a sequence keeps the names of
    /// one tick apart, and a 409 AlreadyExists (another writer, same nanosecond) is tried once more under a
    /// name from the wall clock.
    pub fn post_event(&self, event: &EventSpec) {
        let sequence = self.event_sequence.get();
        self.event_sequence.set(sequence + 1);
        let namespace = events::event_namespace(&event.regarding);
        let post = |nanos: i128| {
            let name = events::event_name(&event.regarding.name, nanos + sequence);
            let body = events::event_body(event, &name, self.now, &self.instance);
            self.kube
                .create::<serde_json::Value>(
                    &ApiResource::EVENTS,
                    Some(namespace),
                    &body,
                    self.deadline,
                )
                .map_err(|error| (name, error))
        };
        let result = match post(self.now.as_nanosecond()) {
            Err((_, error)) if error.is_already_exists() => post(wall_clock().as_nanosecond()),
            other => other,
        };
        if let Err((name, error)) = result {
            let code = error
                .status()
                .map_or_else(|| "none".to_owned(), |status| status.code.to_string());
            *self.events_rejected.borrow_mut().entry(code).or_default() += 1;
            log::warn(
                "Event not posted: the change is made, only its Event is missing",
                &[
                    ("event", json!(name)),
                    ("event_reason", json!(event.reason)),
                    ("kind", json!(event.regarding.kind)),
                    ("namespace", json!(event.regarding.namespace)),
                    ("name", json!(event.regarding.name)),
                    ("error", json!(error.to_string())),
                ],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A controller whose writes and re-reads answer as scripted; writes are numbers.
    #[derive(Default)]
    struct Scripted {
        attempts: VecDeque<Attempt<Scripted>>,
        rereads: VecDeque<Reread<Scripted>>,
        tried: Vec<u32>,
    }

    impl Rewrite for Scripted {
        type Write = u32;
        type Written = u32;
        type NotNeeded = &'static str;
        type Fatal = &'static str;

        const KIND: &'static str = "thing";

        fn subject(write: &u32) -> String {
            format!("t{write}")
        }

        fn try_write(&mut self, write: &u32) -> Attempt<Self> {
            self.tried.push(*write);
            self.attempts.pop_front().expect("a scripted attempt")
        }

        fn reread(&mut self, _write: &u32) -> Reread<Self> {
            self.rereads.pop_front().expect("a scripted re-read")
        }
    }

    fn error(message: &str) -> KubeError {
        KubeError::InvalidRequest(crate::kube::request::RequestError::Invalid(
            message.to_owned(),
        ))
    }

    fn script(attempts: Vec<Attempt<Scripted>>, rereads: Vec<Reread<Scripted>>) -> Scripted {
        Scripted {
            attempts: attempts.into(),
            rereads: rereads.into(),
            tried: Vec::new(),
        }
    }

    #[test]
    fn a_conflict_rereads_decides_again_and_writes_the_new_decision() {
        let mut rewrite = script(
            vec![Attempt::Conflict(error("changed")), Attempt::Written(2)],
            vec![Reread::Decided(2)],
        );
        let mut outcome = Outcome::default();
        let end = write_with_rereads(&mut rewrite, 1, 3, &mut outcome);
        assert_eq!(end, Ok(WriteEnd::Written(2)));
        assert_eq!(rewrite.tried, [1, 2]);
        assert_eq!((outcome.changed, outcome.conflicts), (1, 1));
        assert!(outcome.failures.is_empty());
    }

    #[test]
    fn conflicts_past_the_bound_are_a_failure_naming_the_object() {
        let mut rewrite = script(
            vec![
                Attempt::Conflict(error("one")),
                Attempt::Conflict(error("two")),
                Attempt::Conflict(error("three")),
            ],
            vec![Reread::Decided(2), Reread::Decided(3)],
        );
        let mut outcome = Outcome::default();
        let end = write_with_rereads(&mut rewrite, 1, 2, &mut outcome);
        assert_eq!(end, Ok(WriteEnd::Failed));
        assert_eq!(rewrite.tried, [1, 2, 3]);
        assert_eq!((outcome.changed, outcome.conflicts), (0, 2));
        assert_eq!(outcome.failures.len(), 1);
        assert!(
            outcome.failures[0].starts_with("thing t3: ") && outcome.failures[0].contains("three"),
            "{:?}",
            outcome.failures
        );
    }

    #[test]
    fn a_reread_ends_the_write_when_not_needed_gone_or_failed() {
        let cases: [(Reread<Scripted>, WriteEnd<u32, &str>, usize); 3] = [
            (Reread::NotNeeded("done"), WriteEnd::NotNeeded("done"), 0),
            (Reread::Gone, WriteEnd::Gone, 0),
            (Reread::Failed(error("unreadable")), WriteEnd::Failed, 1),
        ];
        for (reread, expected, failures) in cases {
            let mut rewrite = script(vec![Attempt::Conflict(error("changed"))], vec![reread]);
            let mut outcome = Outcome::default();
            let end = write_with_rereads(&mut rewrite, 1, 3, &mut outcome);
            assert_eq!(end, Ok(expected));
            assert_eq!(rewrite.tried, [1]);
            assert_eq!((outcome.changed, outcome.conflicts), (0, 1));
            assert_eq!(outcome.failures.len(), failures);
        }
    }

    #[test]
    fn gone_failed_and_fatal_tries_are_not_retried() {
        for (attempt, expected, failures) in [
            (Attempt::Gone, Ok(WriteEnd::Gone), 0),
            (Attempt::Failed(error("refused")), Ok(WriteEnd::Failed), 1),
            (Attempt::Fatal("stop"), Err("stop"), 0),
        ] {
            let mut rewrite = script(vec![attempt], Vec::new());
            let mut outcome = Outcome::default();
            let end = write_with_rereads(&mut rewrite, 1, 3, &mut outcome);
            assert_eq!(end, expected);
            assert_eq!(rewrite.tried, [1]);
            assert_eq!((outcome.changed, outcome.conflicts), (0, 0));
            assert_eq!(outcome.failures.len(), failures);
        }
    }
}
