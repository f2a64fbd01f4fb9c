//! `kube-thermostat replay`'s pure core: what the controllers would have done over a past period.
//!
//! The shell ([`crate::controller::replay`]) reads the objects once and the history in chunks, and at each
//! replayed tick runs the controllers' own decisions (the same functions a live tick calls, on the same
//! points). This module holds what is replay's own:
//! - [`chunks`]: cutting the period into range queries, and one tick's window of a chunk;
//! - [`simulate`]: the state carried from tick to tick (our writes applied to the objects in memory);
//! - [`report`]: what happened, recorded tick by tick, and its totals;
//! - [`text`]: the summary printed by default;
//! - [`html`]: the page `--html FILE` writes, charts as inline SVG.
//!
//! Nothing here reads a clock, the environment, files or the network.

pub mod chunks;
pub mod html;
pub mod report;
pub mod simulate;
pub mod text;

pub use report::{ReplayReport, ResizeRecorder, RunReport, TaintRecorder};

/// What a replay cannot know, said in every report.
pub fn cannot_know() -> Vec<String> {
    vec![
        "demand hidden by throttling: where recorded CPU usage sat at its real limit, the container wanted more \
         than Prometheus shows, so a larger replayed size would not have seen more (reported as \"true demand \
         unknown\")"
            .to_string(),
        "what the cluster would have done differently: pods our taints kept off a node were scheduled elsewhere \
         (or stayed pending) in reality neither way; load stays as recorded, node by node"
            .to_string(),
        "usage under a new size: utilization follows the replayed size, usage does not (a smaller limit would \
         have throttled or OOM-killed where the risk figures say so)"
            .to_string(),
        "throttling under a raised limit: recorded CFS throttling raises the replayed CPU only while its limit is \
         not above the recorded one (under a larger limit the history cannot say), and holds scale-downs for the \
         whole guard window as recorded; OOM kills are simulated (a working set over the replayed memory limit is \
         a kill the next tick answers)"
            .to_string(),
        "objects that came or went: the replay decides for the nodes and pods read at its start, with their \
         sizes then; every write lands and every resize is actuated at once"
            .to_string(),
    ]
}
