//! The report `replay --html FILE` writes: one self-contained page (no external script, style, font or image)
//! with the totals side by side, and charts drawn here as inline SVG: a taint timeline per node, tainted nodes
//! against the cap, and for the top containers their sizes against recorded usage. A small inline script adds
//! hover readouts to the line charts; the page reads fully without it. Pure.
//!
//! Size: only charted items get SVG, and every series is cut to at most a few points per pixel column, so a
//! report of thousands of nodes and containers stays a page of a few hundred kilobytes.

use std::fmt::Write;

use k8s_openapi::jiff::Timestamp;

use super::report::{
    ContainerReport, Gap, NodeTimeline, ReplayReport, ResizeReport, ResizeTotals, RunReport, Sizes,
    Span, TaintReport, TaintTotals, WorkloadReport, container_id,
};

/// The taint charts' frame: the cap chart and the timeline share a time axis, one above the other; the left
/// margin holds node names, the right one each node's counts.
const TAINT_LAYOUT: Layout = Layout {
    width: 1200.0,
    left: 250.0,
    right: 130.0,
    top: 12.0,
    bottom: 36.0,
};
/// The container charts' frame: two side by side.
const CONTAINER_LAYOUT: Layout = Layout {
    width: 590.0,
    left: 72.0,
    right: 16.0,
    top: 12.0,
    bottom: 36.0,
};

/// Nodes given a timeline row; the rest are counted under the chart (the JSON report holds all).
pub const TIMELINE_ROWS: usize = 60;
/// Changes listed per run and controller (in a collapsed table).
const CHANGES_LISTED: usize = 100;
/// Workloads listed per run, largest change in reserved requests first.
const WORKLOADS_LISTED: usize = 15;

const MIB: f64 = 1024.0 * 1024.0;

/// A series: (seconds since the epoch, value); `None` breaks the line.
type Points = Vec<(i64, Option<f64>)>;
/// A row of the totals table: its label and its value in a run (`None`: that controller did not run).
type Figure<'a> = (&'a str, &'a dyn Fn(&RunReport) -> Option<String>);
/// Request or limit of a (request, limit) pair.
type Pick = fn((Option<i64>, Option<i64>)) -> Option<i64>;
const GIB: f64 = 1024.0 * MIB;

/// The whole page.
pub fn render(report: &ReplayReport) -> String {
    let mut page = Page::default();
    page.header(report);
    page.totals(report);
    for (index, run) in report.runs.iter().enumerate() {
        page.run(report, index, run);
    }
    page.lists(report);
    page.finish()
}

/// Escapes text for HTML content and quoted attributes (SVG included).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Default)]
struct Page {
    body: String,
    /// Charts drawn so far: SVG ids (hatch patterns) come from it, so the page is the same every time.
    charts: usize,
}

impl Page {
    fn next_id(&mut self) -> usize {
        self.charts += 1;
        self.charts
    }

    fn header(&mut self, report: &ReplayReport) {
        let hours = (report.to.as_second() - report.from.as_second()) as f64 / 3600.0;
        let _ = write!(
            self.body,
            "<header><h1>kube-thermostat replay</h1><p class=\"period\">{} &ndash; {} UTC \
             <span class=\"muted\">({}, {} Prometheus queries)</span></p>\
             <p class=\"muted\">What taint-nodes and resize-pods would have done over this period, decided \
             from the recorded history. Nothing was written to the cluster.</p></header>",
            escape(&minute(report.from)),
            escape(&minute(report.to)),
            escape(&duration_words(hours)),
            report.queries
        );
    }

    fn totals(&mut self, report: &ReplayReport) {
        if report.runs.is_empty() {
            self.body
                .push_str("<section><h2>Totals</h2><p class=\"empty\">No runs in this report.</p></section>\n");
            return;
        }
        let runs = &report.runs;
        let mut table = String::from("<table class=\"totals\"><thead><tr><th></th>");
        for run in runs {
            let _ = write!(table, "<th>{}", escape(&run.name));
            // `--compare` names a run by its overrides: said once.
            if !run.overrides.is_empty() && run.overrides.join(", ") != run.name {
                let _ = write!(
                    table,
                    "<div class=\"overrides\">{}</div>",
                    escape(&run.overrides.join(", "))
                );
            }
            table.push_str("</th>");
        }
        table.push_str("</tr></thead><tbody>\n");
        let columns = runs.len() + 1;
        let mut rows = |title: &str, figures: &[Figure]| {
            let _ = write!(
                table,
                "<tr class=\"group\"><th colspan=\"{columns}\">{}</th></tr>",
                escape(title)
            );
            for (label, value) in figures {
                let _ = write!(table, "<tr><th>{}</th>", escape(label));
                let values: Vec<String> = runs
                    .iter()
                    .map(|run| value(run).unwrap_or_else(|| "&mdash;".to_string()))
                    .collect();
                for (i, text) in values.iter().enumerate() {
                    // A figure another run changed stands out.
                    let class = if i > 0 && *text != values[0] {
                        " class=\"differs\""
                    } else {
                        ""
                    };
                    let _ = write!(table, "<td{class}>{text}</td>");
                }
                table.push_str("</tr>\n");
            }
        };
        let flap_window = runs
            .iter()
            .find_map(|r| Some(r.taint_nodes.as_ref()?.totals.flap_window_seconds / 60));
        let flaps_label =
            flap_window.map_or("flaps".to_string(), |m| format!("flaps (within {m} min)"));
        if runs.iter().any(|r| r.taint_nodes.is_some()) {
            rows(
                "taint-nodes",
                &[
                    ("taints", &|r| Some(taint(r)?.taints.to_string())),
                    ("untaints", &|r| Some(taint(r)?.untaints.to_string())),
                    (&flaps_label, &|r| Some(taint(r)?.flaps.to_string())),
                    ("most tainted at once", &|r| {
                        let t = taint(r)?;
                        Some(match t.most_tainted_at {
                            Some(at) if t.most_tainted > 0 => format!(
                                "{} <span class=\"muted\">({})</span>",
                                t.most_tainted,
                                escape(&minute(at))
                            ),
                            _ => t.most_tainted.to_string(),
                        })
                    }),
                    ("cap full", &|r| {
                        Some(format!("{} h", decimal(taint(r)?.cap_full_hours)))
                    }),
                    ("tainted node-hours", &|r| {
                        Some(decimal(taint(r)?.tainted_node_hours))
                    }),
                    ("no-data node-hours", &|r| {
                        Some(decimal(taint(r)?.unknown_node_hours))
                    }),
                ],
            );
        }
        if runs.iter().any(|r| r.resize_pods.is_some()) {
            rows(
                "resize-pods",
                &[
                    ("containers", &|r| Some(resize(r)?.containers.to_string())),
                    ("resizes", &|r| Some(resize(r)?.resizes.to_string())),
                    ("resizes per container per day", &|r| {
                        Some(format!("{:.2}", resize(r)?.resizes_per_container_day))
                    }),
                    ("CPU requests, core-hours", &|r| {
                        let t = resize(r)?;
                        Some(before_after(
                            t.before.cpu_core_hours,
                            t.after.cpu_core_hours,
                        ))
                    }),
                    ("memory requests, GiB-hours", &|r| {
                        let t = resize(r)?;
                        Some(before_after(
                            t.before.memory_gib_hours,
                            t.after.memory_gib_hours,
                        ))
                    }),
                    ("CPU at the new limit, min", &|r| {
                        Some(format!("{:.0}", resize(r)?.risk.cpu_at_limit_minutes))
                    }),
                    ("memory over the new limit, min", &|r| {
                        Some(format!("{:.0}", resize(r)?.risk.memory_over_limit_minutes))
                    }),
                    ("OOM kills", &|r| {
                        Some(resize(r)?.risk.oom_kills.to_string())
                    }),
                    ("containers with unknown demand", &|r| {
                        let t = resize(r)?;
                        Some(format!(
                            "{} <span class=\"muted\">({:.0} min at their real limit)</span>",
                            t.containers_demand_unknown, t.risk.demand_unknown_minutes
                        ))
                    }),
                ],
            );
        }
        table.push_str("</tbody></table>\n");
        let title = if runs.len() > 1 {
            "Totals, side by side"
        } else {
            "Totals"
        };
        let _ = writeln!(self.body, "<section><h2>{title}</h2>{table}</section>");
    }

    fn run(&mut self, report: &ReplayReport, index: usize, run: &RunReport) {
        let _ = write!(
            self.body,
            "<section class=\"run\" id=\"run-{index}\"><h2>Run: {}</h2>",
            escape(&run.name)
        );
        if !run.overrides.is_empty() {
            let _ = write!(
                self.body,
                "<p class=\"overrides\">settings changed: {}</p>",
                escape(&run.overrides.join(", "))
            );
        }
        let period = Period::of(report);
        if let Some(taint) = &run.taint_nodes {
            self.taint_section(&period, taint);
        }
        if let Some(resize) = &run.resize_pods {
            self.resize_section(&period, resize);
        }
        if run.taint_nodes.is_none() && run.resize_pods.is_none() {
            self.body
                .push_str("<p class=\"empty\">Neither controller was replayed in this run.</p>");
        }
        self.body.push_str("</section>\n");
    }

    fn taint_section(&mut self, period: &Period, taint: &TaintReport) {
        let tick = period.tick_seconds(taint.ticks);
        let _ = write!(
            self.body,
            "<h3>taint-nodes <span class=\"muted\">{} ticks, {} nodes tainted or without data</span></h3>",
            taint.ticks,
            taint.nodes.len()
        );

        // Tainted against the cap.
        let tainted: Points = taint
            .over_time
            .iter()
            .map(|p| (p.at.as_second(), Some(p.tainted as f64)))
            .collect();
        let cap: Points = taint
            .over_time
            .iter()
            .map(|p| (p.at.as_second(), Some(p.cap as f64)))
            .collect();
        let mut series = vec![
            Series {
                shape: Shape::FilledStep,
                ..Series::step("tainted", "s-tainted", tainted)
            },
            Series::step("cap", "s-cap", cap),
        ];
        if taint.over_time.iter().any(|p| p.unknown > 0) {
            let unknown = taint
                .over_time
                .iter()
                .map(|p| (p.at.as_second(), Some(p.unknown as f64)))
                .collect();
            series.push(Series::step("no data", "s-unknown", unknown));
        }
        let id = self.next_id();
        let chart = LineChart {
            id,
            title: "Tainted nodes against the cap",
            unit: Unit::Count,
            layout: TAINT_LAYOUT,
            height: 230.0,
            series,
            bands: gap_bands(&taint.gaps, tick),
            empty_note: (taint.over_time.is_empty()).then_some("no tick decided"),
        };
        self.body.push_str(&chart.render(period));

        self.timeline(period, taint);
        self.gaps(&taint.gaps);
        self.taint_changes(taint);
    }

    fn timeline(&mut self, period: &Period, taint: &TaintReport) {
        let id = self.next_id();
        self.body
            .push_str("<div class=\"chart\"><h4>Taint timeline per node</h4>");
        self.body.push_str(
            "<div class=\"legend\"><span class=\"sw sw-box s-tainted-box\"></span>tainted\
             <span class=\"sw sw-box sw-hatch\"></span>no data (neither hot nor cool)</div>",
        );
        if taint.nodes.is_empty() {
            self.body
                .push_str("<p class=\"empty\">No node was tainted or without data.</p></div>");
            return;
        }
        let shown = timeline_nodes(&taint.nodes);
        let layout = Layout {
            top: if shown.len() > 10 { 24.0 } else { 6.0 },
            bottom: 34.0,
            ..TAINT_LAYOUT
        };
        let row_height = 20.0;
        let height = layout.top + layout.bottom + row_height * shown.len() as f64;
        let scale = period.scale(&layout);
        let mut svg = String::new();
        let _ = write!(
            svg,
            "<svg class=\"timeline\" viewBox=\"0 0 {w} {height}\" width=\"{w}\" height=\"{height}\" \
             role=\"img\" aria-label=\"taint timeline per node\"><defs><pattern id=\"hatch-{id}\" \
             width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
             <rect width=\"6\" height=\"6\" fill=\"#e9ecef\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" \
             stroke=\"#868e96\" stroke-width=\"2.5\"/></pattern></defs>",
            w = layout.width,
        );
        let plot_bottom = height - layout.bottom;
        // Stripes, then the grid, then the spans: the grid shows between rows but never across a span.
        for row in (1..shown.len()).step_by(2) {
            let _ = write!(
                svg,
                "<rect x=\"0\" y=\"{}\" width=\"{}\" height=\"{row_height}\" fill=\"#f8f9fa\"/>",
                layout.top + row_height * row as f64,
                layout.width
            );
        }
        // Times above the rows too once the rows outgrow a glance.
        svg.push_str(&time_axis(
            &scale,
            layout.top,
            plot_bottom,
            shown.len() > 10,
        ));
        for (row, node) in shown.iter().enumerate() {
            // Each row in its own frame, so its spans say only x and width.
            let _ = write!(
                svg,
                "<g class=\"tl-row\" transform=\"translate(0 {})\"><title>{}</title>\
                 <text class=\"node\" x=\"{}\" y=\"14\" text-anchor=\"end\">{}</text>",
                layout.top + row_height * row as f64,
                escape(&node_summary(node)),
                layout.left - 8.0,
                escape(&shorten(&node.node, 34))
            );
            for (spans, paint) in [
                (&node.unknown, format!("fill=\"url(#hatch-{id})\"")),
                (&node.tainted, "class=\"s-tainted-fill\"".to_string()),
            ] {
                let rects = merged_spans(spans, &scale);
                if rects.is_empty() {
                    continue;
                }
                let _ = write!(svg, "<g {paint}>");
                for (from, to) in rects {
                    let _ = write!(
                        svg,
                        "<rect x=\"{from:.1}\" y=\"3\" width=\"{:.1}\" height=\"14\"/>",
                        (to - from).max(1.0)
                    );
                }
                svg.push_str("</g>");
            }
            let _ = write!(
                svg,
                "<text class=\"count\" x=\"{}\" y=\"14\">{}</text></g>",
                layout.width - layout.right + 10.0,
                escape(&node_counts(node))
            );
        }
        svg.push_str("</svg>");
        self.body.push_str(&svg);
        if taint.nodes.len() > shown.len() {
            let _ = write!(
                self.body,
                "<p class=\"more\">{} more nodes not shown: the {} tainted longest are, by name \
                 (<code>--output json</code> lists all).</p>",
                taint.nodes.len() - shown.len(),
                shown.len()
            );
        }
        self.body.push_str("</div>");
    }

    fn gaps(&mut self, gaps: &[Gap]) {
        if gaps.is_empty() {
            return;
        }
        self.body
            .push_str("<h4>Ticks without a decision</h4><ul class=\"gaps\">");
        for gap in gaps {
            let _ = write!(
                self.body,
                "<li><span class=\"when\">{} &ndash; {}</span> ({} {}): {}</li>",
                escape(&minute(gap.from)),
                escape(&minute(gap.to)),
                gap.ticks,
                if gap.ticks == 1 { "tick" } else { "ticks" },
                escape(&gap.reason)
            );
        }
        self.body.push_str("</ul>");
    }

    fn taint_changes(&mut self, taint: &TaintReport) {
        if taint.changes.is_empty() {
            return;
        }
        let _ = write!(
            self.body,
            "<details><summary>Taints and untaints ({})</summary><table class=\"changes\">\
             <thead><tr><th>when (UTC)</th><th>node</th><th>action</th><th>why</th></tr></thead><tbody>",
            taint.changes.len()
        );
        for change in taint.changes.iter().take(CHANGES_LISTED) {
            let _ = write!(
                self.body,
                "<tr><td class=\"when\">{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                escape(&minute(change.at)),
                escape(&change.node),
                if change.action == "taint" {
                    "act-taint"
                } else {
                    "act-untaint"
                },
                escape(&change.action),
                escape(&change.why)
            );
        }
        self.body.push_str("</tbody></table>");
        self.more_changes(taint.changes.len());
        self.body.push_str("</details>");
    }

    fn more_changes(&mut self, count: usize) {
        if count > CHANGES_LISTED {
            let _ = write!(
                self.body,
                "<p class=\"more\">{} more (<code>--output json</code> lists all).</p>",
                count - CHANGES_LISTED
            );
        }
    }

    fn resize_section(&mut self, period: &Period, resize: &ResizeReport) {
        let _ = write!(
            self.body,
            "<h3>resize-pods <span class=\"muted\">{} ticks, {} containers, {} resizes</span></h3>",
            resize.ticks, resize.totals.containers, resize.totals.resizes
        );
        let tick = period.tick_seconds(resize.ticks);
        let bands = gap_bands(&resize.gaps, tick);
        if resize.top.is_empty() {
            self.body.push_str(
                "<p class=\"empty\">No container was resized or at risk: nothing to chart.</p>",
            );
        } else {
            let _ = write!(
                self.body,
                "<h4>Top {} containers: size against recorded usage</h4>\
                 <p class=\"muted\">The replayed request and limit as step lines, the size before the replay \
                 dotted, recorded usage shaded. Most changed or at risk first.</p>",
                resize.top.len()
            );
        }
        for id in &resize.top {
            let Some(container) = resize.containers.iter().find(|c| &container_id(c) == id) else {
                let _ = write!(
                    self.body,
                    "<p class=\"empty\">{}: not among the tracked containers.</p>",
                    escape(id)
                );
                continue;
            };
            self.container_card(period, container, &bands, resize.memory_read);
        }
        self.workloads(resize);
        self.gaps(&resize.gaps);
        self.resize_changes(resize);
    }

    fn container_card(
        &mut self,
        period: &Period,
        c: &ContainerReport,
        bands: &[(i64, i64)],
        memory_read: bool,
    ) {
        let _ = write!(
            self.body,
            "<div class=\"container-card\"><h5>{}</h5><p class=\"facts\">workload {} &middot; {} {} &middot; \
             CPU requests {} &middot; memory requests {}{}</p><div class=\"pair\">",
            escape(&container_id(c)),
            escape(&c.workload),
            c.resizes,
            if c.resizes == 1 { "resize" } else { "resizes" },
            before_after_in(c.before.cpu_core_hours, c.after.cpu_core_hours, " core-h"),
            before_after_in(
                c.before.memory_gib_hours,
                c.after.memory_gib_hours,
                " GiB-h"
            ),
            risk_words(c)
        );
        for (unit, title) in [(Unit::Cpu, "CPU"), (Unit::Memory, "Memory")] {
            let pick = |s: &Sizes| match unit {
                Unit::Cpu => (s.cpu_request, s.cpu_limit),
                _ => (s.memory_request, s.memory_limit),
            };
            let sized = |f: Pick| -> Points {
                c.sizes
                    .iter()
                    .map(|s| (s.at.as_second(), f(pick(&s.sizes)).map(|v| v as f64)))
                    .collect()
            };
            let before: Points = c
                .sizes
                .first()
                .and_then(|s| pick(&s.sizes).0)
                .map(|v| vec![(period.from, Some(v as f64))])
                .unwrap_or_default();
            let usage: Points = c
                .usage
                .iter()
                .map(|u| {
                    let value = match unit {
                        Unit::Cpu => u.cpu.map(|cores| cores * 1000.0),
                        _ => u.memory,
                    };
                    (u.at.as_second(), value)
                })
                .collect();
            let has_usage = usage.iter().any(|(_, v)| v.is_some());
            let mut series = Vec::new();
            if has_usage {
                series.push(Series::area("usage", "s-usage", usage));
            }
            series.push(Series::step("request before", "s-before", before));
            series.push(Series::step("request", "s-request", sized(|(r, _)| r)));
            series.push(Series::step("limit", "s-limit", sized(|(_, l)| l)));
            let id = self.next_id();
            let chart = LineChart {
                id,
                title,
                unit,
                layout: CONTAINER_LAYOUT,
                height: 210.0,
                series,
                bands: bands.to_vec(),
                empty_note: match unit {
                    Unit::Memory if !memory_read => {
                        Some("memory is not resized (RESIZE_MEMORY): its usage was not read")
                    }
                    _ => (!has_usage).then_some("no usage fetched"),
                },
            };
            self.body.push_str(&chart.render(period));
        }
        self.body.push_str("</div></div>\n");
    }

    fn workloads(&mut self, resize: &ResizeReport) {
        let mut changed: Vec<_> = resize
            .workloads
            .iter()
            .filter(|w| w.resizes > 0 || w.risk.oom_kills > 0)
            .collect();
        if changed.is_empty() {
            return;
        }
        let change = |w: &WorkloadReport| {
            (w.before.cpu_core_hours - w.after.cpu_core_hours).abs()
                + (w.before.memory_gib_hours - w.after.memory_gib_hours).abs()
        };
        changed.sort_by(|a, b| change(b).total_cmp(&change(a)));
        let _ = write!(
            self.body,
            "<h4>Workloads, largest change first</h4><table class=\"workloads\"><thead><tr><th>namespace</th>\
             <th>workload</th><th>containers</th><th>resizes</th><th>CPU core-h</th><th>memory GiB-h</th>\
             <th>OOM kills</th></tr></thead><tbody>"
        );
        for w in changed.iter().take(WORKLOADS_LISTED) {
            let _ = write!(
                self.body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&w.namespace),
                escape(&w.workload),
                w.containers,
                w.resizes,
                before_after(w.before.cpu_core_hours, w.after.cpu_core_hours),
                before_after(w.before.memory_gib_hours, w.after.memory_gib_hours),
                w.risk.oom_kills
            );
        }
        self.body.push_str("</tbody></table>");
        if changed.len() > WORKLOADS_LISTED {
            let _ = write!(
                self.body,
                "<p class=\"more\">{} more workloads changed (<code>--output json</code> lists all).</p>",
                changed.len() - WORKLOADS_LISTED
            );
        }
    }

    fn resize_changes(&mut self, resize: &ResizeReport) {
        if resize.changes.is_empty() {
            return;
        }
        let _ = write!(
            self.body,
            "<details><summary>Resizes ({} changes)</summary><table class=\"changes\"><thead><tr>\
             <th>when (UTC)</th><th>container</th><th>resource</th><th>from</th><th>to</th><th>why</th></tr>\
             </thead><tbody>",
            resize.changes.len()
        );
        for change in resize.changes.iter().take(CHANGES_LISTED) {
            let _ = write!(
                self.body,
                "<tr><td class=\"when\">{}</td><td>{}/{}/{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&minute(change.at)),
                escape(&change.namespace),
                escape(&change.pod),
                escape(&change.container),
                escape(&change.resource),
                escape(&change.direction),
                escape(&change.from),
                escape(&change.to),
                escape(&change.why)
            );
        }
        self.body.push_str("</tbody></table>");
        self.more_changes(resize.changes.len());
        self.body.push_str("</details>");
    }

    fn lists(&mut self, report: &ReplayReport) {
        if !report.notes.is_empty() {
            self.body.push_str("<section><h2>Notes</h2><ul>");
            for note in &report.notes {
                let _ = write!(self.body, "<li>{}</li>", escape(note));
            }
            self.body.push_str("</ul></section>\n");
        }
        self.body
            .push_str("<section><h2>What a replay cannot know</h2><ul>");
        for caveat in &report.cannot_know {
            let _ = write!(self.body, "<li>{}</li>", escape(caveat));
        }
        self.body.push_str("</ul></section>\n");
    }

    fn finish(self) -> String {
        let mut page = String::with_capacity(self.body.len() + STYLE.len() + SCRIPT.len() + 256);
        page.push_str(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>kube-thermostat replay</title><style>",
        );
        page.push_str(STYLE);
        page.push_str("</style></head><body>\n");
        page.push_str(&self.body);
        page.push_str("<script>");
        page.push_str(SCRIPT);
        page.push_str("</script></body></html>\n");
        page
    }
}

fn taint(run: &RunReport) -> Option<&TaintTotals> {
    run.taint_nodes.as_ref().map(|t| &t.totals)
}

fn resize(run: &RunReport) -> Option<&ResizeTotals> {
    run.resize_pods.as_ref().map(|t| &t.totals)
}

// ---- time ------------------------------------------------------------------------------------------

/// The replayed period in seconds since the epoch.
struct Period {
    from: i64,
    to: i64,
}

impl Period {
    fn of(report: &ReplayReport) -> Period {
        let from = report.from.as_second();
        Period {
            from,
            to: report.to.as_second().max(from + 1),
        }
    }

    /// How long one tick stood for, to draw a one-tick gap as a band.
    fn tick_seconds(&self, ticks: usize) -> i64 {
        (self.to - self.from) / ticks.max(1) as i64
    }

    fn scale(&self, layout: &Layout) -> TimeScale {
        TimeScale {
            from: self.from,
            to: self.to,
            left: layout.left,
            right: layout.width - layout.right,
        }
    }
}

/// Seconds since the epoch to x.
struct TimeScale {
    from: i64,
    to: i64,
    left: f64,
    right: f64,
}

impl TimeScale {
    fn x(&self, t: i64) -> f64 {
        let t = t.clamp(self.from, self.to);
        self.left + (t - self.from) as f64 / (self.to - self.from) as f64 * (self.right - self.left)
    }
}

/// Tick steps the time axis picks from, smallest first; each divides the next level's unit (a day, a week).
const TIME_STEPS: &[i64] = &[
    60,
    5 * 60,
    10 * 60,
    15 * 60,
    30 * 60,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    2 * 86_400,
    7 * 86_400,
    14 * 86_400,
    28 * 86_400,
];

/// The smallest step that keeps labels about `min_gap` px apart.
fn time_step(scale: &TimeScale, min_gap: f64) -> i64 {
    let seconds_per_px = (scale.to - scale.from) as f64 / (scale.right - scale.left).max(1.0);
    TIME_STEPS
        .iter()
        .copied()
        .find(|&step| step as f64 / seconds_per_px >= min_gap)
        .unwrap_or(*TIME_STEPS.last().unwrap_or(&86_400))
}

/// Tick times within the scale, aligned to UTC midnights (weeks to Mondays).
fn time_ticks(scale: &TimeScale, step: i64) -> Vec<i64> {
    // 1970-01-01 was a Thursday: weeks counted from Monday the 5th.
    let origin = if step >= 7 * 86_400 { 4 * 86_400 } else { 0 };
    let first = (scale.from - origin).div_euclid(step) * step + origin;
    let first = if first < scale.from {
        first + step
    } else {
        first
    };
    (0..)
        .map(|i| first + i * step)
        .take_while(|&t| t <= scale.to)
        .collect()
}

/// Vertical grid lines and labels; with `top` the times also above the plot (long timelines). Charts over the
/// same period and width get the same ticks.
fn time_axis(scale: &TimeScale, plot_top: f64, plot_bottom: f64, top: bool) -> String {
    let step = time_step(scale, 62.0);
    let mut out = String::from("<g class=\"axis\">");
    let mut last_day = None;
    for t in time_ticks(scale, step) {
        let x = scale.x(t);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{plot_top}\" x2=\"{x:.1}\" y2=\"{plot_bottom}\"/>"
        );
        // Labels at the ends of the axis lean inwards rather than run off the chart.
        let anchor = if scale.right - x < 30.0 {
            "end"
        } else if x - scale.left < 30.0 && top {
            "start"
        } else {
            "middle"
        };
        let day = t.div_euclid(86_400);
        let (main, sub) = if step >= 86_400 {
            (format_at(t, "%b %-d"), None)
        } else {
            let sub = (last_day != Some(day)).then(|| format_at(t, "%a %b %-d"));
            (format_at(t, "%H:%M"), sub)
        };
        last_day = Some(day);
        let _ = write!(
            out,
            "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            plot_bottom + 15.0,
            escape(&main)
        );
        if let Some(sub) = &sub {
            let _ = write!(
                out,
                "<text class=\"day\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
                plot_bottom + 28.0,
                escape(sub)
            );
        }
        if top {
            let _ = write!(
                out,
                "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
                plot_top - 8.0,
                escape(&main)
            );
        }
    }
    out.push_str("</g>");
    out
}

fn format_at(seconds: i64, format: &str) -> String {
    Timestamp::from_second(seconds)
        .map(|t| t.strftime(format).to_string())
        .unwrap_or_default()
}

/// `2024-06-14 12:05` (UTC).
fn minute(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M").to_string()
}

fn duration_words(hours: f64) -> String {
    if hours >= 48.0 {
        format!("{} days", decimal(hours / 24.0))
    } else {
        format!("{} h", decimal(hours))
    }
}

// ---- line charts -----------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    /// Nodes.
    Count,
    /// Millicores.
    Cpu,
    /// Bytes.
    Memory,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Count => "count",
            Unit::Cpu => "cpu",
            Unit::Memory => "memory",
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            Unit::Count => format!("{value:.0}"),
            Unit::Cpu => cpu(value),
            Unit::Memory => memory(value),
        }
    }

    /// A value the axis reaches at least, so an all-zero chart still has a scale.
    fn floor(self) -> f64 {
        match self {
            Unit::Count => 1.0,
            Unit::Cpu => 100.0,
            Unit::Memory => 64.0 * MIB,
        }
    }

    /// A step between axis labels of about `max / target`: 1-2-5 counts, 1-2-2.5-5 millicores, powers of two
    /// of MiB.
    fn step(self, max: f64, target: f64) -> f64 {
        let rough = max / target;
        match self {
            Unit::Memory => {
                let mut step = MIB;
                while step < rough {
                    step *= 2.0;
                }
                step
            }
            _ => {
                let magnitude = 10f64.powf(rough.log10().floor());
                let multiples: &[f64] = if self == Unit::Cpu {
                    &[1.0, 2.0, 2.5, 5.0, 10.0]
                } else {
                    &[1.0, 2.0, 5.0, 10.0]
                };
                let step = multiples
                    .iter()
                    .map(|m| m * magnitude)
                    .find(|&s| s >= rough)
                    .unwrap_or(10.0 * magnitude);
                step.max(1.0)
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// Holds its value until the next point (sizes, counts).
    Step,
    /// The same, shaded down to zero.
    FilledStep,
    /// Sampled values, shaded down to zero (usage).
    Area,
}

struct Series {
    label: &'static str,
    class: &'static str,
    shape: Shape,
    /// (seconds since the epoch, value); `None` breaks the line.
    points: Points,
}

impl Series {
    fn step(label: &'static str, class: &'static str, points: Points) -> Series {
        Series {
            label,
            class,
            shape: Shape::Step,
            points,
        }
    }

    fn area(label: &'static str, class: &'static str, points: Points) -> Series {
        Series {
            label,
            class,
            shape: Shape::Area,
            points,
        }
    }
}

struct Layout {
    width: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

struct LineChart {
    id: usize,
    title: &'static str,
    unit: Unit,
    layout: Layout,
    height: f64,
    series: Vec<Series>,
    /// Spans without a decision, shaded.
    bands: Vec<(i64, i64)>,
    /// Said in the plot when set (no usage fetched...).
    empty_note: Option<&'static str>,
}

impl LineChart {
    fn render(&self, period: &Period) -> String {
        let layout = &self.layout;
        let scale = period.scale(layout);
        let plot_top = layout.top;
        let plot_bottom = self.height - layout.bottom;
        let max = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|p| p.1))
            .fold(0.0f64, f64::max)
            .max(self.unit.floor());
        let step = self.unit.step(max * 1.08, 4.0);
        let top_value = (max * 1.08 / step).ceil() * step;
        let y = |v: f64| plot_bottom - v / top_value * (plot_bottom - plot_top);

        let mut out = String::new();
        let _ = write!(
            out,
            "<div class=\"chart\"><h5>{}</h5><div class=\"legend\">",
            self.title
        );
        for series in &self.series {
            let _ = write!(
                out,
                "<span class=\"sw {}-sw\"></span>{}",
                series.class,
                escape(series.label)
            );
        }
        if !self.bands.is_empty() {
            out.push_str("<span class=\"sw sw-box s-gap-box\"></span>no decision");
        }
        out.push_str("</div>");
        let _ = write!(
            out,
            "<svg class=\"lc\" id=\"chart-{}\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
             data-from=\"{}\" data-to=\"{}\" data-left=\"{}\" data-right=\"{}\" data-unit=\"{}\" \
             role=\"img\" aria-label=\"{}\">",
            self.id,
            scale.from,
            scale.to,
            scale.left,
            scale.right,
            self.unit.name(),
            escape(self.title),
            w = layout.width,
            h = self.height
        );
        for &(from, to) in &self.bands {
            let (x0, x1) = (scale.x(from), scale.x(to));
            let _ = write!(
                out,
                "<rect class=\"s-gap\" x=\"{x0:.1}\" y=\"{plot_top}\" width=\"{:.1}\" height=\"{:.1}\"/>",
                (x1 - x0).max(2.0),
                plot_bottom - plot_top
            );
        }
        // Value grid and labels.
        out.push_str("<g class=\"axis\">");
        let mut value = 0.0;
        while value <= top_value + step / 2.0 {
            let yv = y(value);
            let _ = write!(
                out,
                "<line class=\"grid\" x1=\"{}\" y1=\"{yv:.1}\" x2=\"{}\" y2=\"{yv:.1}\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                scale.left,
                scale.right,
                scale.left - 6.0,
                yv + 4.0,
                escape(&self.unit.format(value))
            );
            value += step;
        }
        out.push_str("</g>");
        out.push_str(&time_axis(&scale, plot_top, plot_bottom, false));
        for series in &self.series {
            let reduced = reduce(&series.points, &scale, period.to, series.shape);
            if reduced.iter().all(|p| p.1.is_none()) {
                continue;
            }
            let (line, fill) = match series.shape {
                Shape::Step => (step_path(&reduced, &scale, &y, period.to, None), None),
                Shape::FilledStep => (
                    step_path(&reduced, &scale, &y, period.to, None),
                    Some(step_path(
                        &reduced,
                        &scale,
                        &y,
                        period.to,
                        Some(plot_bottom),
                    )),
                ),
                Shape::Area => (
                    sampled_path(&reduced, &scale, &y, None),
                    Some(sampled_path(&reduced, &scale, &y, Some(plot_bottom))),
                ),
            };
            if let Some(fill) = fill {
                let _ = write!(out, "<path class=\"{}-fill\" d=\"{fill}\"/>", series.class);
            }
            let _ = write!(
                out,
                "<path class=\"{}\" d=\"{line}\" data-label=\"{}\" data-points=\"{}\"/>",
                series.class,
                escape(series.label),
                readout_points(&reduced, scale.from, self.unit)
            );
        }
        let _ = write!(
            out,
            "<line class=\"frame\" x1=\"{l}\" y1=\"{plot_bottom}\" x2=\"{r}\" y2=\"{plot_bottom}\"/>",
            l = scale.left,
            r = scale.right
        );
        if let Some(note) = self.empty_note {
            let _ = write!(
                out,
                "<text class=\"note\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                (scale.left + scale.right) / 2.0,
                (plot_top + plot_bottom) / 2.0,
                escape(note)
            );
        }
        let _ = write!(
            out,
            "<line class=\"cursor\" x1=\"0\" y1=\"{plot_top}\" x2=\"0\" y2=\"{plot_bottom}\" visibility=\"hidden\"/>"
        );
        out.push_str("</svg><div class=\"readout idle\">hover the chart for values</div></div>");
        out
    }
}

/// At most a few points per pixel column, so peaks survive and the page stays small for long periods: of a
/// step line the first, lowest, highest and last value of each column (in their order); of sampled usage the
/// lowest and highest.
fn reduce(points: &[(i64, Option<f64>)], scale: &TimeScale, to: i64, shape: Shape) -> Points {
    let column = |t: i64| scale.x(t).floor() as i64;
    let ends = shape != Shape::Area;
    let mut out: Points = Vec::new();
    let mut start = 0;
    while start < points.len() {
        let col = column(points[start].0);
        let mut end = start;
        while end < points.len() && column(points[end].0) == col {
            end += 1;
        }
        let bucket = &points[start..end];
        // A break keeps its bucket whole: the line must stop there.
        if bucket.len() <= if ends { 4 } else { 2 } || bucket.iter().any(|p| p.1.is_none()) {
            out.extend_from_slice(bucket);
        } else {
            let value = |p: &&(i64, Option<f64>)| p.1.unwrap_or(0.0);
            let low = bucket.iter().min_by(|a, b| value(a).total_cmp(&value(b)));
            let high = bucket.iter().max_by(|a, b| value(a).total_cmp(&value(b)));
            let mut keep: Points = low.into_iter().chain(high).copied().collect();
            if ends {
                keep.push(bucket[0]);
                keep.push(bucket[bucket.len() - 1]);
            }
            keep.sort_by_key(|p| p.0);
            keep.dedup();
            out.extend(keep);
        }
        start = end;
    }
    out.retain(|p| p.0 <= to);
    out
}

/// SVG path data in relative steps of tenths of a pixel: shorter than absolute coordinates, and exact (each
/// step is between rounded positions, so rounding never adds up along a long line).
struct PathData {
    d: String,
    x: i64,
    y: i64,
}

impl PathData {
    fn new() -> PathData {
        PathData {
            d: String::new(),
            x: 0,
            y: 0,
        }
    }

    fn move_to(&mut self, x: f64, y: f64) {
        let (x, y) = (tenths(x), tenths(y));
        let _ = write!(self.d, "M{} {}", decimal_tenths(x), decimal_tenths(y));
        (self.x, self.y) = (x, y);
    }

    fn line_to(&mut self, x: f64, y: f64) {
        let (x, y) = (tenths(x), tenths(y));
        let dy = decimal_tenths(y - self.y);
        let separator = if dy.starts_with('-') { "" } else { " " };
        let _ = write!(self.d, "l{}{separator}{dy}", decimal_tenths(x - self.x));
        (self.x, self.y) = (x, y);
    }

    fn horizontal_to(&mut self, x: f64) {
        let x = tenths(x);
        if x != self.x {
            let _ = write!(self.d, "h{}", decimal_tenths(x - self.x));
            self.x = x;
        }
    }

    fn vertical_to(&mut self, y: f64) {
        let y = tenths(y);
        if y != self.y {
            let _ = write!(self.d, "v{}", decimal_tenths(y - self.y));
            self.y = y;
        }
    }

    fn close(&mut self) {
        self.d.push('Z');
    }
}

fn tenths(value: f64) -> i64 {
    (value * 10.0).round() as i64
}

/// Tenths as a decimal: `12`, `-0.5` as `-.5`, `3.2`.
fn decimal_tenths(tenths: i64) -> String {
    let sign = if tenths < 0 { "-" } else { "" };
    let (whole, fraction) = (tenths.abs() / 10, tenths.abs() % 10);
    match (whole, fraction) {
        (w, 0) => format!("{sign}{w}"),
        (0, f) => format!("{sign}.{f}"),
        (w, f) => format!("{sign}{w}.{f}"),
    }
}

/// Each value held until the next point, the last until the end of the period; with `bottom` the area
/// under it, one closed shape per unbroken run.
fn step_path(
    points: &[(i64, Option<f64>)],
    scale: &TimeScale,
    y: &dyn Fn(f64) -> f64,
    to: i64,
    bottom: Option<f64>,
) -> String {
    let mut path = PathData::new();
    let mut open = false;
    for &(t, value) in points {
        let x = scale.x(t);
        match (value, open) {
            (Some(v), true) => {
                path.horizontal_to(x);
                path.vertical_to(y(v));
            }
            (Some(v), false) => {
                match bottom {
                    Some(bottom) => {
                        path.move_to(x, bottom);
                        path.vertical_to(y(v));
                    }
                    None => path.move_to(x, y(v)),
                }
                open = true;
            }
            (None, true) => {
                path.horizontal_to(x);
                if let Some(bottom) = bottom {
                    path.vertical_to(bottom);
                    path.close();
                }
                open = false;
            }
            (None, false) => {}
        }
    }
    if open {
        path.horizontal_to(scale.x(to));
        if let Some(bottom) = bottom {
            path.vertical_to(bottom);
            path.close();
        }
    }
    path.d
}

/// Sampled values joined, broken where a value is missing; with `bottom` shaded down to it.
fn sampled_path(
    points: &[(i64, Option<f64>)],
    scale: &TimeScale,
    y: &dyn Fn(f64) -> f64,
    bottom: Option<f64>,
) -> String {
    let mut path = PathData::new();
    for run in points.split(|p| p.1.is_none()) {
        let (Some(first), Some(last)) = (run.first(), run.last()) else {
            continue;
        };
        match bottom {
            Some(bottom) => path.move_to(scale.x(first.0), bottom),
            None => path.move_to(scale.x(first.0), y(first.1.unwrap_or(0.0))),
        }
        for &(t, value) in run {
            path.line_to(scale.x(t), y(value.unwrap_or(0.0)));
        }
        if let Some(bottom) = bottom {
            path.line_to(scale.x(last.0), bottom);
            path.close();
        }
    }
    path.d
}

/// `seconds-since-the-previous-point:value` pairs for the hover readout (`-` where the line breaks), values
/// rounded to what a reader needs: millicores, tenths of MiB, whole nodes.
fn readout_points(points: &[(i64, Option<f64>)], from: i64, unit: Unit) -> String {
    let mut out = String::new();
    let mut previous = from;
    for (i, &(t, value)) in points.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{}:", t - previous);
        previous = t;
        match value {
            Some(v) => {
                let rounded = match unit {
                    Unit::Memory => (v / MIB * 10.0).round() / 10.0,
                    Unit::Cpu | Unit::Count => v.round(),
                };
                out.push_str(&compact(rounded));
            }
            None => out.push('-'),
        }
    }
    out
}

/// A number as short as it reads: integers without decimals, others with up to three decimals.
fn compact(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn gap_bands(gaps: &[Gap], tick: i64) -> Vec<(i64, i64)> {
    gaps.iter()
        .map(|g| (g.from.as_second(), g.to.as_second() + tick.max(1)))
        .collect()
}

// ---- timeline --------------------------------------------------------------------------------------

/// The nodes given a row: the longest tainted (then without data) up to [`TIMELINE_ROWS`], by name.
fn timeline_nodes(nodes: &[NodeTimeline]) -> Vec<&NodeTimeline> {
    let seconds = |spans: &[Span]| spans.iter().map(Span::seconds).sum::<i64>();
    let mut ranked: Vec<&NodeTimeline> = nodes.iter().collect();
    ranked.sort_by(|a, b| {
        seconds(&b.tainted)
            .cmp(&seconds(&a.tainted))
            .then(seconds(&b.unknown).cmp(&seconds(&a.unknown)))
            .then_with(|| a.node.cmp(&b.node))
    });
    ranked.truncate(TIMELINE_ROWS);
    ranked.sort_by(|a, b| a.node.cmp(&b.node));
    ranked
}

/// Spans as x ranges, joined where less than a pixel apart (a flapping node stays a few rectangles).
fn merged_spans(spans: &[Span], scale: &TimeScale) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for span in spans {
        let (from, to) = (scale.x(span.from.as_second()), scale.x(span.to.as_second()));
        match out.last_mut() {
            Some(last) if from - last.1 < 1.0 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

fn node_summary(node: &NodeTimeline) -> String {
    let hours = |spans: &[Span]| spans.iter().map(Span::seconds).sum::<i64>() as f64 / 3600.0;
    format!(
        "{}: tainted {} h in {} spans, no data {} h; {}",
        node.node,
        decimal(hours(&node.tainted)),
        node.tainted.len(),
        decimal(hours(&node.unknown)),
        node_counts(node)
    )
}

fn node_counts(node: &NodeTimeline) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut text = plural(node.taints, "taint", "taints");
    if node.flaps > 0 {
        text.push_str(", ");
        text.push_str(&plural(node.flaps, "flap", "flaps"));
    }
    text
}

/// Cut in the middle: node names differ at the start (`ip-10-0-1-17...`) or at the end
/// (`gke-prod-pool-1-8c2f-x9k2`), so both ends stay.
fn shorten(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        return text.to_string();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

// ---- numbers ---------------------------------------------------------------------------------------

/// One decimal, or two below 10 (small figures would read as 0.0).
fn decimal(value: f64) -> String {
    if value.abs() < 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1}")
    }
}

/// `12.0 → 8.0 (−33%)`.
fn before_after(before: f64, after: f64) -> String {
    before_after_in(before, after, "")
}

/// `12.0 → 8.0 core-h (−33%)`.
fn before_after_in(before: f64, after: f64, unit: &str) -> String {
    let change = if before.abs() > f64::EPSILON {
        let percent = (after - before) / before * 100.0;
        let class = if percent < -0.5 {
            "down"
        } else if percent > 0.5 {
            "up"
        } else {
            "same"
        };
        let sign = if percent >= 0.0 { "+" } else { "\u{2212}" };
        format!(
            " <span class=\"{class}\">({sign}{:.0}%)</span>",
            percent.abs()
        )
    } else {
        String::new()
    };
    format!(
        "{} &rarr; {}{unit}{change}",
        decimal(before),
        decimal(after)
    )
}

fn risk_words(c: &ContainerReport) -> String {
    let mut parts = Vec::new();
    if c.risk.cpu_at_limit_minutes > 0.0 {
        parts.push(format!(
            "{:.0} min CPU at the new limit",
            c.risk.cpu_at_limit_minutes
        ));
    }
    if c.risk.memory_over_limit_minutes > 0.0 {
        parts.push(format!(
            "{:.0} min memory over the new limit ({} OOM {})",
            c.risk.memory_over_limit_minutes,
            c.risk.oom_kills,
            if c.risk.oom_kills == 1 {
                "kill"
            } else {
                "kills"
            }
        ));
    }
    if c.risk.demand_unknown_minutes > 0.0 {
        parts.push(format!(
            "true demand unknown for {:.0} min",
            c.risk.demand_unknown_minutes
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(
            " &middot; <span class=\"risk\">{}</span>",
            escape(&parts.join(", "))
        )
    }
}

/// Millicores as Kubernetes writes them: `250m`, `1.5 cores`.
fn cpu(millicores: f64) -> String {
    if millicores == 0.0 {
        "0".to_string()
    } else if millicores.abs() < 1000.0 {
        format!("{millicores:.0}m")
    } else {
        let cores = (millicores / 1000.0 * 100.0).round() / 100.0;
        let noun = if cores == 1.0 { "core" } else { "cores" };
        format!("{} {noun}", compact(cores))
    }
}

/// Bytes in binary units: `512 MiB`, `1.5 GiB`.
fn memory(bytes: f64) -> String {
    if bytes == 0.0 {
        "0".to_string()
    } else if bytes.abs() < GIB {
        format!("{} MiB", compact((bytes / MIB * 10.0).round() / 10.0))
    } else {
        format!("{} GiB", compact((bytes / GIB * 100.0).round() / 100.0))
    }
}

// ---- page style and script -------------------------------------------------------------------------

const STYLE: &str = r#"
:root { --tainted: #e8590c; --cap: #343a40; --request: #1c7ed6; --limit: #c92a2a; --usage: #2f9e44; }
* { box-sizing: border-box; }
body { font: 14px/1.45 "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: #212529; background: #fff;
  margin: 0 auto; padding: 20px 28px 40px; max-width: 1280px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #dee2e6; }
h3 { font-size: 16px; margin: 22px 0 8px; }
h4 { font-size: 14px; margin: 18px 0 6px; }
h5 { font-size: 13px; margin: 0 0 4px; }
.period { font-size: 15px; margin: 0; }
.muted, .more, .overrides { color: #6c757d; font-weight: normal; }
.overrides { font-size: 12px; }
.empty { color: #6c757d; font-style: italic; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 12px; text-align: left; border-bottom: 1px solid #e9ecef; vertical-align: top; }
table.totals td { font-variant-numeric: tabular-nums; min-width: 220px; }
table.totals thead th { border-bottom: 2px solid #adb5bd; }
table.totals tr.group th { background: #f1f3f5; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
table.totals tbody th { font-weight: normal; color: #495057; }
table.totals td.differs { font-weight: bold; background: #fff9db; }
.down { color: #2b8a3e; } .up { color: #c92a2a; } .same { color: #6c757d; }
.risk { color: #c92a2a; }
.act-taint { color: var(--tainted); font-weight: bold; } .act-untaint { color: #2b8a3e; }
td.when, .when { white-space: nowrap; font-variant-numeric: tabular-nums; }
.chart { margin: 10px 0 14px; }
.legend { font-size: 12px; color: #495057; margin: 2px 0 4px; }
.sw { display: inline-block; width: 22px; height: 0; border-top: 2.5px solid; vertical-align: middle;
  margin: 0 5px 0 14px; }
.sw:first-child { margin-left: 0; }
.sw-box { height: 11px; border: 1px solid #adb5bd; }
.s-tainted-box { background: var(--tainted); border-color: var(--tainted); }
.sw-hatch { background: repeating-linear-gradient(45deg, #868e96 0 2px, #e9ecef 2px 5px); }
.s-gap-box { background: #ffe3e3; border-color: #ffc9c9; }
.s-tainted-sw { height: 11px; border: 1px solid var(--tainted); border-top-width: 2.5px; background: #ffd8a8; } .s-cap-sw { border-top-style: dashed; border-color: var(--cap); }
.s-unknown-sw { border-color: #adb5bd; } .s-request-sw { border-color: var(--request); }
.s-limit-sw { border-top-style: dashed; border-color: var(--limit); }
.s-before-sw { border-top-style: dotted; border-color: #868e96; }
.s-usage-sw { height: 11px; border: 1px solid var(--usage); background: #b2f2bb; }
svg { display: block; max-width: 100%; height: auto; font-size: 11px; fill: #495057; }
svg text { font-family: "DejaVu Sans", Arial, sans-serif; }
svg .grid { stroke: #e9ecef; stroke-width: 1; }
svg .frame { stroke: #adb5bd; stroke-width: 1; }
svg .day { fill: #868e96; font-size: 10px; }
svg .node { fill: #212529; font-size: 11px; }
svg .count { fill: #6c757d; font-size: 11px; }
svg .note { fill: #868e96; font-size: 13px; font-style: italic; }
svg .cursor { stroke: #495057; stroke-width: 1; stroke-dasharray: 2 2; }
.s-tainted-fill { fill: var(--tainted); }
.s-gap { fill: #ffe3e3; }
path.s-tainted-fill { fill: #ffd8a8; fill-opacity: .7; stroke: none; }
path.s-tainted { fill: none; stroke: var(--tainted); stroke-width: 2; }
path.s-cap { fill: none; stroke: var(--cap); stroke-width: 1.5; stroke-dasharray: 6 4; }
path.s-unknown { fill: none; stroke: #adb5bd; stroke-width: 1.5; }
path.s-request { fill: none; stroke: var(--request); stroke-width: 2; }
path.s-limit { fill: none; stroke: var(--limit); stroke-width: 1.75; stroke-dasharray: 6 4; }
path.s-before { fill: none; stroke: #868e96; stroke-width: 1.5; stroke-dasharray: 1.5 3; }
path.s-usage-fill { fill: #b2f2bb; fill-opacity: .8; stroke: none; }
path.s-usage { fill: none; stroke: var(--usage); stroke-width: 1.25; }
.readout { font-size: 12px; color: #343a40; min-height: 18px; font-variant-numeric: tabular-nums; }
.readout.idle { color: #adb5bd; }
.container-card { border: 1px solid #dee2e6; border-radius: 6px; padding: 10px 14px; margin: 12px 0; }
.container-card h5 { font-size: 14px; font-family: "DejaVu Sans Mono", monospace; }
.container-card .facts { font-size: 12px; margin: 0 0 6px; color: #495057; }
.pair { display: flex; gap: 18px; flex-wrap: wrap; }
.pair .chart { flex: 1 1 560px; margin: 0; }
details { margin: 10px 0; } summary { cursor: pointer; color: #1c7ed6; }
ul { padding-left: 22px; } li { margin: 3px 0; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }
"#;

/// Hover readouts on the line charts: the time under the pointer and each series' value there. The page
/// says `data-rendered="ok"` on its body when this ran, `data-error` if anything threw.
const SCRIPT: &str = r#"
(function () {
  "use strict";
  var body = document.body;
  window.addEventListener("error", function (e) { body.dataset.error = String(e.message || e); });
  function cpu(m) {
    if (m === 0) return "0";
    if (m < 1000) return Math.round(m) + "m";
    var cores = Math.round(m / 10) / 100;
    return cores + (cores === 1 ? " core" : " cores");
  }
  function mem(b) {
    var mib = 1048576;
    if (b === 0) return "0";
    return b < 1024 * mib ? (Math.round(b / mib * 10) / 10) + " MiB" : (Math.round(b / mib / 1024 * 100) / 100) + " GiB";
  }
  function format(unit, v) { return unit === "cpu" ? cpu(v) : unit === "memory" ? mem(v) : String(Math.round(v)); }
  // "dt:value" pairs, dt from the previous point, memory in MiB (see readout_points).
  function parse(text, unit) {
    var t = 0, scale = unit === "memory" ? 1048576 : 1;
    return text.split(" ").map(function (pair) {
      var i = pair.indexOf(":"), v = pair.slice(i + 1);
      t += Number(pair.slice(0, i));
      return [t, v === "-" ? null : Number(v) * scale];
    });
  }
  function at(points, t) {
    var lo = 0, hi = points.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (points[mid][0] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found < 0 ? null : points[found][1];
  }
  try {
    Array.prototype.forEach.call(document.querySelectorAll("svg.lc"), function (svg) {
      var from = Number(svg.dataset.from), to = Number(svg.dataset.to);
      var left = Number(svg.dataset.left), right = Number(svg.dataset.right), unit = svg.dataset.unit;
      var readout = svg.nextElementSibling, cursor = svg.querySelector(".cursor");
      var width = svg.viewBox.baseVal.width;
      var series = Array.prototype.map.call(svg.querySelectorAll("path[data-points]"), function (p) {
        return { label: p.dataset.label, points: parse(p.dataset.points, unit) };
      });
      var idle = readout.textContent;
      function reset() {
        cursor.setAttribute("visibility", "hidden"); readout.textContent = idle; readout.classList.add("idle");
      }
      svg.addEventListener("mousemove", function (e) {
        var box = svg.getBoundingClientRect();
        var x = (e.clientX - box.left) * width / box.width;
        if (x < left || x > right) { reset(); return; }
        var offset = (x - left) / (right - left) * (to - from);
        var when = new Date((from + offset) * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
        var parts = series.map(function (s) {
          var v = at(s.points, offset);
          return s.label + " " + (v === null ? "\u2014" : format(unit, v));
        });
        cursor.setAttribute("x1", x); cursor.setAttribute("x2", x); cursor.setAttribute("visibility", "visible");
        readout.textContent = when + " \u00b7 " + parts.join(" \u00b7 ");
        readout.classList.remove("idle");
      });
      svg.addEventListener("mouseleave", reset);
    });
    body.dataset.rendered = "ok";
  } catch (e) {
    body.dataset.error = String(e && e.message || e);
    throw e;
  }
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::report::{Reserved, Risk, SizeAt, TaintedAt, UsageAt};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_718_366_400 + seconds).unwrap()
    }

    fn span(from: i64, to: i64) -> Span {
        Span {
            from: at(from),
            to: at(to),
        }
    }

    fn node(name: &str, tainted: Vec<Span>, unknown: Vec<Span>) -> NodeTimeline {
        NodeTimeline {
            node: name.to_string(),
            taints: tainted.len(),
            flaps: 0,
            tainted,
            unknown,
        }
    }

    fn container(ns: &str, pod: &str, name: &str, usage: bool) -> ContainerReport {
        let sizes = |cpu: i64, memory: i64| Sizes {
            cpu_request: Some(cpu),
            cpu_limit: Some(cpu * 2),
            memory_request: Some(memory),
            memory_limit: Some(memory * 2),
        };
        ContainerReport {
            namespace: ns.to_string(),
            pod: pod.to_string(),
            container: name.to_string(),
            workload: "Deployment/web".to_string(),
            sizes: vec![
                SizeAt {
                    at: at(0),
                    sizes: sizes(500, 512 << 20),
                },
                SizeAt {
                    at: at(6 * 3600),
                    sizes: sizes(250, 256 << 20),
                },
            ],
            resizes: 1,
            before: Reserved {
                cpu_core_hours: 12.0,
                memory_gib_hours: 12.0,
            },
            after: Reserved {
                cpu_core_hours: 7.5,
                memory_gib_hours: 7.5,
            },
            risk: Risk::default(),
            usage: if usage {
                (0..288)
                    .map(|i| UsageAt {
                        at: at(i * 300),
                        cpu: Some(0.1 + (i % 12) as f64 / 100.0),
                        memory: if i == 100 { None } else { Some(200.0 * MIB) },
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    fn report(
        nodes: Vec<NodeTimeline>,
        containers: Vec<ContainerReport>,
        top: Vec<String>,
    ) -> ReplayReport {
        let over_time = (0..288)
            .map(|i| TaintedAt {
                at: at(i * 300),
                tainted: (i as usize / 40) % 3,
                cap: 2,
                unknown: usize::from(i < 3),
            })
            .collect();
        ReplayReport {
            from: at(0),
            to: at(86_400),
            queries: 42,
            cannot_know: vec!["demand hidden by throttling".to_string()],
            notes: vec!["objects file without HPAs".to_string()],
            runs: vec![RunReport {
                name: "as configured".to_string(),
                overrides: Vec::new(),
                taint_nodes: Some(TaintReport {
                    ticks: 288,
                    gaps: vec![Gap {
                        from: at(3600),
                        to: at(3900),
                        ticks: 2,
                        reason: "Prometheus <unreachable> & \"down\"".to_string(),
                    }],
                    nodes,
                    over_time,
                    changes: Vec::new(),
                    totals: TaintTotals::default(),
                }),
                resize_pods: Some(ResizeReport {
                    ticks: 288,
                    gaps: Vec::new(),
                    containers,
                    workloads: Vec::new(),
                    changes: Vec::new(),
                    totals: ResizeTotals::default(),
                    top,
                    memory_read: true,
                }),
            }],
        }
    }

    fn count(haystack: &str, needle: &str) -> usize {
        haystack.matches(needle).count()
    }

    #[test]
    fn names_and_reasons_are_escaped_everywhere() {
        let page = render(&report(
            vec![node(
                "<script>alert(1)</script>",
                vec![span(0, 3600)],
                vec![],
            )],
            vec![container("ns", "<img src=x onerror=alert(1)>", "app", true)],
            vec!["ns/<img src=x onerror=alert(1)>/app".to_string()],
        ));
        assert!(!page.contains("<script>alert"), "node name unescaped");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<img"), "pod name unescaped");
        assert!(page.contains("Prometheus &lt;unreachable&gt; &amp; &quot;down&quot;"));
        // The page's own script is the only one.
        assert_eq!(count(&page, "<script"), 1);
    }

    #[test]
    fn the_page_loads_nothing_from_anywhere() {
        let page = render(&report(
            vec![node("a", vec![span(0, 3600)], vec![span(3600, 7200)])],
            vec![container("ns", "web-1", "app", true)],
            vec!["ns/web-1/app".to_string()],
        ));
        assert!(!page.to_lowercase().contains("http"), "a URL in the page");
        for external in ["src=", "href=", "@import", "url(http", "@font-face"] {
            assert!(!page.contains(external), "{external} in the page");
        }
    }

    #[test]
    fn one_timeline_row_per_node_and_one_card_per_top_container() {
        let nodes = vec![
            node("node-a", vec![span(0, 3600), span(7200, 9000)], vec![]),
            node("node-b", vec![], vec![span(0, 900)]),
            node("node-c", vec![span(40_000, 50_000)], vec![span(0, 600)]),
        ];
        let containers = vec![
            container("ns", "web-1", "app", true),
            container("ns", "web-2", "app", false),
            container("ns", "web-3", "app", true),
        ];
        let page = render(&report(
            nodes,
            containers,
            vec!["ns/web-1/app".to_string(), "ns/web-2/app".to_string()],
        ));
        assert_eq!(count(&page, "class=\"tl-row\""), 3);
        for name in ["node-a", "node-b", "node-c"] {
            assert!(
                page.contains(&format!(">{name}</text>")),
                "{name} has no row label"
            );
        }
        assert_eq!(count(&page, "class=\"container-card\""), 2);
        // Per top container a CPU and a memory chart; plus the cap chart and the timeline.
        assert_eq!(count(&page, "<svg class=\"lc\""), 2 * 2 + 1);
        assert_eq!(count(&page, "<svg"), 2 * 2 + 2);
        assert!(
            !page.contains("web-3"),
            "a container not in top was charted"
        );
        // web-2 has no usage: both its charts say so.
        assert_eq!(count(&page, "no usage fetched"), 2);
        // The gap is a shaded band on the cap chart.
        assert_eq!(count(&page, "class=\"s-gap\""), 1);
    }

    #[test]
    fn a_memory_chart_says_why_it_has_no_usage_when_memory_is_not_resized() {
        let containers = vec![container("ns", "web-1", "app", true)];
        let mut replay = report(Vec::new(), containers, vec!["ns/web-1/app".to_string()]);
        if let Some(resize) = replay.runs[0].resize_pods.as_mut() {
            resize.memory_read = false;
        }
        let page = render(&replay);
        assert_eq!(
            count(
                &page,
                "memory is not resized (RESIZE_MEMORY): its usage was not read"
            ),
            1
        );
        assert_eq!(
            count(&page, "no usage fetched"),
            0,
            "the CPU chart has usage"
        );
    }

    #[test]
    fn the_timeline_is_capped_and_says_how_many_more() {
        let nodes: Vec<NodeTimeline> = (0..75)
            .map(|i| node(&format!("node-{i:03}"), vec![span(0, 60 * (i + 1))], vec![]))
            .collect();
        let page = render(&report(nodes, Vec::new(), Vec::new()));
        assert_eq!(count(&page, "class=\"tl-row\""), TIMELINE_ROWS);
        assert!(page.contains("15 more nodes not shown"));
        // The longest tainted are shown: node-074 was tainted longest, node-000 least.
        assert!(page.contains(">node-074</text>"));
        assert!(!page.contains(">node-000</text>"));
    }

    #[test]
    fn an_empty_report_renders() {
        let empty = ReplayReport {
            from: at(0),
            to: at(0),
            runs: Vec::new(),
            queries: 0,
            cannot_know: Vec::new(),
            notes: Vec::new(),
        };
        let page = render(&empty);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.ends_with("</html>\n"));
        assert!(page.contains("No runs in this report."));
        assert!(!page.contains("NaN") && !page.contains("inf"));

        let quiet = render(&report(Vec::new(), Vec::new(), Vec::new()));
        assert!(quiet.contains("No node was tainted or without data."));
        assert!(quiet.contains("nothing to chart"));
        assert!(!quiet.contains("NaN"));
    }

    #[test]
    fn rendering_is_deterministic() {
        let make = || {
            render(&report(
                vec![node("a", vec![span(0, 3600)], vec![])],
                vec![container("ns", "web-1", "app", true)],
                vec!["ns/web-1/app".to_string()],
            ))
        };
        assert_eq!(make(), make());
    }

    #[test]
    fn time_ticks_are_round_for_the_period() {
        let scale = |seconds: i64| TimeScale {
            from: 1_718_366_400 + 1234,
            to: 1_718_366_400 + 1234 + seconds,
            left: 0.0,
            right: 1100.0,
        };
        let day = scale(86_400);
        assert_eq!(time_step(&day, 62.0), 2 * 3600);
        assert!(time_ticks(&day, 7200).iter().all(|t| t % 7200 == 0));
        assert_eq!(time_step(&scale(7 * 86_400), 62.0), 12 * 3600);
        assert_eq!(time_step(&scale(30 * 86_400), 62.0), 2 * 86_400);
        assert_eq!(time_step(&scale(3600), 62.0), 5 * 60);
        // Weeks start on Mondays.
        let ticks = time_ticks(&scale(200 * 86_400), 7 * 86_400);
        assert!(
            ticks
                .iter()
                .all(|&t| format_at(t, "%a %H:%M") == "Mon 00:00")
        );
    }

    #[test]
    fn units_read_as_kubernetes_writes_them() {
        assert_eq!(cpu(250.0), "250m");
        assert_eq!(cpu(1500.0), "1.5 cores");
        assert_eq!(cpu(1000.0), "1 core");
        assert_eq!(memory(256.0 * MIB), "256 MiB");
        assert_eq!(memory(1.5 * GIB), "1.5 GiB");
        assert_eq!(Unit::Memory.step(3.0 * GIB, 4.0), GIB);
        assert_eq!(Unit::Cpu.step(1000.0, 4.0), 250.0);
        assert_eq!(Unit::Count.step(7.0, 4.0), 2.0);
    }

    /// A week of 1,000 nodes (200 tainted, flapping) and 10,000 containers, 12 charted with usage every minute.
    #[test]
    fn a_big_report_stays_a_light_page() {
        let week = 7 * 86_400;
        let nodes: Vec<NodeTimeline> = (0..200)
            .map(|n| {
                let tainted = (0..40)
                    .map(|k| span(k * 15_000 + n * 60, k * 15_000 + n * 60 + 3_000))
                    .collect();
                node(
                    &format!("ip-10-0-{}-{}.eu-west-1.compute.internal", n / 250, n % 250),
                    tainted,
                    vec![span(0, 600)],
                )
            })
            .collect();
        let mut big = report(nodes, Vec::new(), Vec::new());
        big.to = at(week);
        let mut containers: Vec<ContainerReport> = (0..10_000)
            .map(|i| container(&format!("ns-{}", i % 50), &format!("web-{i}"), "app", false))
            .collect();
        let top: Vec<String> = containers.iter().take(12).map(container_id).collect();
        for c in containers.iter_mut().take(12) {
            c.usage = (0..week / 60)
                .map(|i| UsageAt {
                    at: at(i * 60),
                    cpu: Some(0.1 + (i % 17) as f64 / 50.0),
                    memory: Some((200.0 + (i % 23) as f64) * MIB),
                })
                .collect();
        }
        let run = &mut big.runs[0];
        let taint = run.taint_nodes.as_mut().unwrap();
        taint.ticks = (week / 60) as usize;
        taint.over_time = (0..week / 60)
            .map(|i| TaintedAt {
                at: at(i * 60),
                tainted: (i as usize * 7919) % 120,
                cap: 100,
                unknown: 0,
            })
            .collect();
        taint.changes = (0..16_000)
            .map(|i| crate::replay::report::TaintChange {
                at: at(i * 30),
                node: format!("node-{}", i % 200),
                action: "taint".to_string(),
                why: "CPU 91% over 10m".to_string(),
            })
            .collect();
        let resize = run.resize_pods.as_mut().unwrap();
        resize.containers = containers;
        resize.top = top;
        let page = render(&big);
        eprintln!(
            "a week, 1,000 nodes (200 tainted), 10,000 containers, 12 charted: {} bytes",
            page.len()
        );
        assert_eq!(count(&page, "class=\"tl-row\""), TIMELINE_ROWS);
        assert_eq!(count(&page, "class=\"container-card\""), 12);
        assert!(page.len() < 1_500_000, "{} bytes", page.len());
    }

    #[test]
    fn long_series_are_cut_to_a_few_points_per_pixel() {
        let scale = TimeScale {
            from: 0,
            to: 7 * 86_400,
            left: 0.0,
            right: 500.0,
        };
        let points: Points = (0..7 * 1440)
            .map(|i| (i * 60, Some(if i == 5000 { 99.0 } else { (i % 7) as f64 })))
            .collect();
        let reduced = reduce(&points, &scale, 7 * 86_400, Shape::Step);
        assert!(reduced.len() <= 4 * 501, "{} points", reduced.len());
        assert!(
            reduced.iter().any(|p| p.1 == Some(99.0)),
            "the peak was lost"
        );
    }
}
