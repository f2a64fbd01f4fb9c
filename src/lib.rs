//! kube-thermostat: a shell-operator hook that taints hot nodes and resizes hot and idle pods in place.
//!
//! Layout (functional core, imperative shell):
//! - pure decisions: [`taint::decide`], [`resize::decide`], [`quantity`], [`events`]
//! - object models: [`model`] (slim Pod and Node, imported downward by the hook contract and controllers)
//! - edges: [`hook`] (shell-operator files), [`prometheus`] (queries), [`kube`] (API client), both clients on
//!   [`http`] (agent, TLS from PEM, deadline-bounded retries, token files); [`error_chain`] prints their errors
//! - shells: [`controller`] (each controller's observe → decide → act, the [`controller::Controller`] names,
//!   the tick context and the act step they share)
//! - glue: [`settings`] (validated configuration), [`tick`] (settings → work → connect → run each controller →
//!   report → exit code)

// The library serves the binary and the tests; its docs are read with private items (`make lint` builds them
// so), where links to the private modules resolve.
#![allow(rustdoc::private_intra_doc_links)]

pub mod app;
pub mod cli;
pub(crate) mod controller;
pub mod deadline;
pub(crate) mod error_chain;
pub(crate) mod events;
pub(crate) mod exit;
pub mod hook;
pub(crate) mod http;
pub mod kube;
pub(crate) mod log;
pub(crate) mod model;
pub mod prometheus;
pub mod quantity;
pub mod replay;
pub mod replay_command;
pub mod resize;
pub mod settings;
pub mod taint;
pub mod tick;
