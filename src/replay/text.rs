//! The text summary `replay` prints by default: per run and controller the totals, the busiest nodes and
//! containers, and what the replay cannot know. Pure.

use std::fmt::Write;

use super::report::{ReplayReport, ResizeReport, RunReport, TaintReport, container_id};

/// Lines of nodes, changes and containers shown per section; the JSON and HTML reports hold all of them.
const SHOWN: usize = 10;

pub fn render(report: &ReplayReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "replay {} .. {} ({:.1} h), {} Prometheus queries",
        report.from,
        report.to,
        (report.to.as_second() - report.from.as_second()) as f64 / 3600.0,
        report.queries
    );
    if report.runs.len() > 1 {
        out.push_str(&comparison(&report.runs));
    }
    for run in &report.runs {
        let _ = writeln!(out, "\n== {} ==", run.name);
        if let Some(taint) = &run.taint_nodes {
            out.push_str(&taint_section(taint));
        }
        if let Some(resize) = &run.resize_pods {
            out.push_str(&resize_section(resize));
        }
    }
    if !report.notes.is_empty() {
        out.push_str("\nnotes:\n");
        for note in &report.notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    out.push_str("\nwhat a replay cannot know:\n");
    for caveat in &report.cannot_know {
        let _ = writeln!(out, "  - {caveat}");
    }
    out
}

fn taint_section(taint: &TaintReport) -> String {
    let mut out = String::new();
    let t = &taint.totals;
    let _ = writeln!(
        out,
        "taint-nodes: {} ticks, {} taints, {} untaints, {} flaps (within {} min), most tainted at once {}{}, \
         cap full {:.1} h, {:.1} tainted node-hours",
        taint.ticks,
        t.taints,
        t.untaints,
        t.flaps,
        t.flap_window_seconds / 60,
        t.most_tainted,
        t.most_tainted_at
            .map(|at| format!(" ({at})"))
            .unwrap_or_default(),
        t.cap_full_hours,
        t.tainted_node_hours,
    );
    if t.unknown_node_hours > 0.0 {
        let _ = writeln!(
            out,
            "  no data: {:.1} node-hours (windows not full: counted neither hot nor cool)",
            t.unknown_node_hours
        );
    }
    for gap in &taint.gaps {
        let _ = writeln!(
            out,
            "  no decision {} .. {} ({} ticks): {}",
            gap.from, gap.to, gap.ticks, gap.reason
        );
    }
    for change in taint.changes.iter().take(SHOWN) {
        let _ = writeln!(
            out,
            "  {} {} {}: {}",
            change.at, change.action, change.node, change.why
        );
    }
    if taint.changes.len() > SHOWN {
        let _ = writeln!(
            out,
            "  ... {} more changes (--output json or --html for all)",
            taint.changes.len() - SHOWN
        );
    }
    out
}

fn resize_section(resize: &ResizeReport) -> String {
    let mut out = String::new();
    let t = &resize.totals;
    let _ = writeln!(
        out,
        "resize-pods: {} ticks, {} containers, {} resizes ({:.2} per container per day)",
        resize.ticks, t.containers, t.resizes, t.resizes_per_container_day
    );
    let _ = writeln!(
        out,
        "  reserved CPU {:.1} -> {:.1} core-hours, memory {:.1} -> {:.1} GiB-hours",
        t.before.cpu_core_hours,
        t.after.cpu_core_hours,
        t.before.memory_gib_hours,
        t.after.memory_gib_hours
    );
    let _ = writeln!(
        out,
        "  risk: {:.0} min of CPU at the new limit, {:.0} min of memory over the new limit ({} OOM kills)",
        t.risk.cpu_at_limit_minutes, t.risk.memory_over_limit_minutes, t.risk.oom_kills
    );
    if t.containers_demand_unknown > 0 {
        let _ = writeln!(
            out,
            "  {} containers sat at their real limit for {:.0} min in all: their true demand there is unknown",
            t.containers_demand_unknown, t.risk.demand_unknown_minutes
        );
    }
    for gap in &resize.gaps {
        let _ = writeln!(
            out,
            "  no decision {} .. {} ({} ticks): {}",
            gap.from, gap.to, gap.ticks, gap.reason
        );
    }
    let mut workloads: Vec<_> = resize.workloads.iter().filter(|w| w.resizes > 0).collect();
    workloads.sort_by(|a, b| {
        let change = |w: &&super::report::WorkloadReport| {
            (w.before.cpu_core_hours - w.after.cpu_core_hours).abs()
        };
        change(b).total_cmp(&change(a))
    });
    for w in workloads.iter().take(SHOWN) {
        let _ = writeln!(
            out,
            "  workload {}/{} ({} containers): {} resizes, CPU {:.2} -> {:.2} core-hours, memory {:.2} -> {:.2} \
             GiB-hours",
            w.namespace,
            w.workload,
            w.containers,
            w.resizes,
            w.before.cpu_core_hours,
            w.after.cpu_core_hours,
            w.before.memory_gib_hours,
            w.after.memory_gib_hours
        );
    }
    for id in resize.top.iter().take(SHOWN) {
        let Some(c) = resize.containers.iter().find(|c| &container_id(c) == id) else {
            continue;
        };
        let _ = writeln!(
            out,
            "  {id}: {} resizes, CPU {:.2} -> {:.2} core-hours, memory {:.2} -> {:.2} GiB-hours{}",
            c.resizes,
            c.before.cpu_core_hours,
            c.after.cpu_core_hours,
            c.before.memory_gib_hours,
            c.after.memory_gib_hours,
            if c.risk.oom_kills > 0 {
                format!(", {} OOM kills", c.risk.oom_kills)
            } else {
                String::new()
            }
        );
    }
    out
}

/// The runs side by side: one line per figure.
fn comparison(runs: &[RunReport]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |name: &str, value: &dyn Fn(&RunReport) -> Option<String>| {
        let values: Vec<String> = runs
            .iter()
            .map(|r| value(r).unwrap_or_else(|| "-".into()))
            .collect();
        rows.push((name.to_string(), values));
    };
    row("taints", &|r| {
        Some(r.taint_nodes.as_ref()?.totals.taints.to_string())
    });
    row("flaps", &|r| {
        Some(r.taint_nodes.as_ref()?.totals.flaps.to_string())
    });
    row("most tainted", &|r| {
        Some(r.taint_nodes.as_ref()?.totals.most_tainted.to_string())
    });
    row("cap full h", &|r| {
        Some(format!(
            "{:.1}",
            r.taint_nodes.as_ref()?.totals.cap_full_hours
        ))
    });
    row("resizes", &|r| {
        Some(r.resize_pods.as_ref()?.totals.resizes.to_string())
    });
    row("CPU core-h", &|r| {
        Some(format!(
            "{:.1}",
            r.resize_pods.as_ref()?.totals.after.cpu_core_hours
        ))
    });
    row("memory GiB-h", &|r| {
        Some(format!(
            "{:.1}",
            r.resize_pods.as_ref()?.totals.after.memory_gib_hours
        ))
    });
    row("OOM kills", &|r| {
        Some(r.resize_pods.as_ref()?.totals.risk.oom_kills.to_string())
    });
    row("CPU at limit min", &|r| {
        Some(format!(
            "{:.0}",
            r.resize_pods.as_ref()?.totals.risk.cpu_at_limit_minutes
        ))
    });
    let mut out = String::from("\ncompared:\n");
    let _ = write!(out, "  {:<18}", "");
    for run in runs {
        let _ = write!(out, "{:>24}", truncate(&run.name, 22));
    }
    out.push('\n');
    for (name, values) in rows {
        if values.iter().all(|v| v == "-") {
            continue;
        }
        let _ = write!(out, "  {name:<18}");
        for value in values {
            let _ = write!(out, "{value:>24}");
        }
        out.push('\n');
    }
    out
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}
