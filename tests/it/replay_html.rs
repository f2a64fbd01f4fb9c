//! The `replay --html` page in a real browser: Debian's Chromium, headless, opens a page rendered from a
//! realistic report (three nodes, two top containers, two runs) and must draw it: a screenshot that is not a
//! blank page, the charts in the DOM after the page's script ran, hover readouts that give values, no script
//! error. `make deps` installs Chromium; without it these tests fail.
//!
//! `UPDATE_SCREENSHOT=1 cargo test --test it replay_html::` saves the screenshot as docs/replay-report.png
//! (the README shows it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use kube_thermostat::replay::html;
use kube_thermostat::replay::report::{
    ContainerReport, Gap, NodeTimeline, ReplayReport, Reserved, ResizeChange, ResizeReport,
    ResizeTotals, Risk, RunReport, SizeAt, Sizes, Span, TaintChange, TaintReport, TaintTotals,
    TaintedAt, UsageAt, WorkloadReport,
};

const CHROMIUM: &str = "/usr/bin/chromium";
const MIB: f64 = 1024.0 * 1024.0;
/// 2024-06-14 00:00 UTC.
const START: i64 = 1_718_323_200;
const DAY: i64 = 86_400;
const TICK: i64 = 300;

const NODES: [&str; 3] = [
    "ip-10-0-1-17.eu-west-1.compute.internal",
    "ip-10-0-2-41.eu-west-1.compute.internal",
    "ip-10-0-3-9.eu-west-1.compute.internal",
];

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(START + seconds).unwrap()
}

fn span(from_hour: f64, to_hour: f64) -> Span {
    Span {
        from: at((from_hour * 3600.0) as i64),
        to: at((to_hour * 3600.0) as i64),
    }
}

fn in_any(spans: &[Span], t: Timestamp) -> bool {
    spans.iter().any(|s| s.from <= t && t < s.to)
}

/// A day of taint-nodes: node 1 hot twice in the afternoon (once flapping), node 2 once in the evening and
/// without data after a restart, node 3 without data for its first hour; a Prometheus outage at noon.
fn taint_report(scale: f64) -> TaintReport {
    let hours = |h: f64| h * scale;
    let nodes = vec![
        NodeTimeline {
            node: NODES[0].to_string(),
            tainted: vec![span(13.0, 13.0 + hours(2.5)), span(16.5, 16.5 + hours(1.5))],
            unknown: Vec::new(),
            taints: 2,
            flaps: 1,
        },
        NodeTimeline {
            node: NODES[1].to_string(),
            tainted: vec![span(19.0, 19.0 + hours(3.0))],
            unknown: vec![span(6.0, 6.5)],
            taints: 1,
            flaps: 0,
        },
        NodeTimeline {
            node: NODES[2].to_string(),
            tainted: Vec::new(),
            unknown: vec![span(0.0, 1.0)],
            taints: 0,
            flaps: 0,
        },
    ];
    let over_time: Vec<TaintedAt> = (0..DAY / TICK)
        .map(|i| {
            let t = at(i * TICK);
            TaintedAt {
                at: t,
                tainted: nodes.iter().filter(|n| in_any(&n.tainted, t)).count(),
                cap: 1,
                unknown: nodes.iter().filter(|n| in_any(&n.unknown, t)).count(),
            }
        })
        .collect();
    let mut changes = Vec::new();
    for node in &nodes {
        for s in &node.tainted {
            for (when, action, why) in [
                (s.from, "taint", "CPU 91% over 10m (threshold 85%)"),
                (s.to, "untaint", "CPU 58% over 10m (untaint below 60%)"),
            ] {
                changes.push(TaintChange {
                    at: when,
                    node: node.node.clone(),
                    action: action.to_string(),
                    why: why.to_string(),
                });
            }
        }
    }
    changes.sort_by_key(|c| c.at);
    let tainted_node_hours = nodes
        .iter()
        .flat_map(|n| &n.tainted)
        .map(Span::seconds)
        .sum::<i64>() as f64
        / 3600.0;
    TaintReport {
        ticks: over_time.len(),
        gaps: vec![Gap {
            from: at(12 * 3600),
            to: at(12 * 3600 + 2 * TICK),
            ticks: 3,
            reason: "Prometheus query failed: connection refused".to_string(),
        }],
        totals: TaintTotals {
            nodes: 3,
            taints: 3,
            untaints: 3,
            flaps: 1,
            flap_window_seconds: 1800,
            cap_full_hours: 7.0 * scale,
            most_tainted: 1,
            most_tainted_at: Some(at(13 * 3600)),
            tainted_node_hours,
            unknown_node_hours: 1.5,
        },
        nodes,
        over_time,
        changes,
    }
}

/// Daily-shaped CPU (cores) and memory (bytes) usage every 5 minutes, one point missing.
fn usage(peak_cores: f64, base_mib: f64) -> Vec<UsageAt> {
    (0..DAY / TICK)
        .map(|i| {
            let hour = (i * TICK) as f64 / 3600.0;
            let wave = (((hour - 8.0) / 24.0) * std::f64::consts::TAU)
                .sin()
                .max(0.0);
            let jitter = ((i * 7919) % 13) as f64 / 13.0;
            UsageAt {
                at: at(i * TICK),
                cpu: Some(peak_cores * (0.15 + 0.8 * wave + 0.05 * jitter)),
                memory: (i != 150).then_some((base_mib + 180.0 * wave + 8.0 * jitter) * MIB),
            }
        })
        .collect()
}

fn sizes(
    cpu_request: i64,
    cpu_limit: i64,
    memory_request_mib: i64,
    memory_limit_mib: i64,
) -> Sizes {
    Sizes {
        cpu_request: Some(cpu_request),
        cpu_limit: Some(cpu_limit),
        memory_request: Some(memory_request_mib << 20),
        memory_limit: Some(memory_limit_mib << 20),
    }
}

fn container(pod: &str, resized: bool) -> ContainerReport {
    let mut steps = vec![SizeAt {
        at: at(0),
        sizes: sizes(1000, 2000, 1024, 1536),
    }];
    if resized {
        steps.push(SizeAt {
            at: at(4 * 3600),
            sizes: sizes(400, 800, 512, 768),
        });
        steps.push(SizeAt {
            at: at(14 * 3600),
            sizes: sizes(700, 1400, 512, 768),
        });
    }
    ContainerReport {
        namespace: "shop".to_string(),
        pod: pod.to_string(),
        container: "app".to_string(),
        workload: "Deployment/checkout".to_string(),
        resizes: steps.len() - 1,
        sizes: steps,
        before: Reserved {
            cpu_core_hours: 24.0,
            memory_gib_hours: 24.0,
        },
        after: Reserved {
            cpu_core_hours: if resized { 13.0 } else { 24.0 },
            memory_gib_hours: if resized { 12.5 } else { 24.0 },
        },
        risk: Risk {
            cpu_at_limit_minutes: if resized { 35.0 } else { 0.0 },
            memory_over_limit_minutes: 0.0,
            oom_kills: 0,
            demand_unknown_minutes: 0.0,
        },
        usage: usage(0.9, 300.0),
    }
}

fn resize_report(top: usize) -> ResizeReport {
    let mut containers = vec![
        container("checkout-7d9f8-abcde", true),
        container("checkout-7d9f8-fghij", true),
        container("checkout-7d9f8-klmno", false),
    ];
    for c in containers.iter_mut().skip(top) {
        c.usage.clear();
    }
    let ids: Vec<String> = containers
        .iter()
        .take(top)
        .map(kube_thermostat::replay::report::container_id)
        .collect();
    let changes = containers
        .iter()
        .take(2)
        .map(|c| ResizeChange {
            at: at(4 * 3600),
            namespace: c.namespace.clone(),
            pod: c.pod.clone(),
            container: c.container.clone(),
            resource: "cpu".to_string(),
            direction: "down".to_string(),
            from: "1 / 2".to_string(),
            to: "400m / 800m".to_string(),
            why: "p95 usage 310m over 24h".to_string(),
        })
        .collect();
    ResizeReport {
        ticks: (DAY / TICK) as usize,
        gaps: Vec::new(),
        memory_read: true,
        workloads: vec![WorkloadReport {
            namespace: "shop".to_string(),
            workload: "Deployment/checkout".to_string(),
            containers: 3,
            resizes: 4,
            before: Reserved {
                cpu_core_hours: 72.0,
                memory_gib_hours: 72.0,
            },
            after: Reserved {
                cpu_core_hours: 50.0,
                memory_gib_hours: 49.0,
            },
            risk: Risk::default(),
        }],
        totals: ResizeTotals {
            containers: 3,
            resizes: 4,
            resizes_per_container_day: 4.0 / 3.0,
            before: Reserved {
                cpu_core_hours: 72.0,
                memory_gib_hours: 72.0,
            },
            after: Reserved {
                cpu_core_hours: 50.0,
                memory_gib_hours: 49.0,
            },
            risk: Risk {
                cpu_at_limit_minutes: 70.0,
                ..Risk::default()
            },
            containers_demand_unknown: 0,
        },
        containers,
        changes,
        top: ids,
    }
}

/// Two runs (`--compare CPU_THRESHOLD=75`): taints last longer with the lower threshold.
fn realistic_report() -> ReplayReport {
    ReplayReport {
        from: at(0),
        to: at(DAY),
        queries: 37,
        cannot_know: kube_thermostat::replay::cannot_know(),
        notes: vec![
            "the objects file has no HPAs: resize-pods decided as if none scaled these pods"
                .to_string(),
        ],
        runs: vec![
            RunReport {
                name: "as configured".to_string(),
                overrides: Vec::new(),
                taint_nodes: Some(taint_report(1.0)),
                resize_pods: Some(resize_report(2)),
            },
            RunReport {
                name: "CPU_THRESHOLD=75".to_string(),
                overrides: vec!["CPU_THRESHOLD=75".to_string()],
                taint_nodes: Some(taint_report(1.3)),
                resize_pods: Some(resize_report(2)),
            },
        ],
    }
}

/// Per run: the cap chart, the timeline, and a CPU and a memory chart per top container.
const SVGS_PER_RUN: usize = 1 + 1 + 2 * 2;

struct Browser {
    output: std::process::Output,
    _profile: tempfile::TempDir,
}

/// Runs headless Chromium on `page` with a fresh profile, killed if it takes more than a minute.
fn chromium(args: &[String], page: &Path) -> Browser {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} not found: `make deps` installs Debian's chromium, which these tests need"
    );
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Read the pipes while waiting: a full pipe would stall the browser.
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || read_all(stdout));
    let err = std::thread::spawn(move || read_all(stderr));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    assert!(
        output.status.success(),
        "chromium failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Browser {
        output,
        _profile: profile,
    }
}

fn read_all(mut from: impl std::io::Read) -> Vec<u8> {
    let mut bytes = Vec::new();
    from.read_to_end(&mut bytes).unwrap();
    bytes
}

fn no_script_error(browser: &Browser) {
    let stderr = String::from_utf8_lossy(&browser.output.stderr);
    assert!(
        !stderr.contains("Uncaught"),
        "a script error in the page:\n{stderr}"
    );
}

fn screenshot(page: &Path, dir: &Path, name: &str) -> Vec<u8> {
    let png = dir.join(name);
    let browser = chromium(
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1400,2200".to_string(),
            "--hide-scrollbars".to_string(),
        ],
        page,
    );
    no_script_error(&browser);
    std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()))
}

fn write_page(dir: &Path, name: &str, html: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, html).unwrap();
    path
}

#[test]
fn the_page_draws_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let page = write_page(
        dir.path(),
        "report.html",
        &html::render(&realistic_report()),
    );
    let empty = write_page(
        dir.path(),
        "empty.html",
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body></body></html>",
    );

    let shot = screenshot(&page, dir.path(), "report.png");
    let blank = screenshot(&empty, dir.path(), "empty.png");
    assert_eq!(&shot[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&blank[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    // A white page of the same size compresses to a few kilobytes; charts and text do not.
    assert!(
        shot.len() > 100_000 && shot.len() > 10 * blank.len(),
        "the screenshot looks blank: {} bytes, an empty page's {} bytes",
        shot.len(),
        blank.len()
    );
    if std::env::var("UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        let saved = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/replay-report.png");
        std::fs::write(saved, &shot).unwrap();
    }
}

#[test]
fn the_charts_are_in_the_dom_after_the_script_ran() {
    let dir = tempfile::tempdir().unwrap();
    let report = realistic_report();
    let page = write_page(dir.path(), "report.html", &html::render(&report));
    let browser = chromium(&["--dump-dom".to_string()], &page);
    no_script_error(&browser);
    let dom = String::from_utf8_lossy(&browser.output.stdout);

    assert!(
        dom.contains("data-rendered=\"ok\""),
        "the page's script did not finish: {}",
        &dom[..dom.len().min(400)]
    );
    assert!(!dom.contains("data-error"), "the page's script failed");
    assert_eq!(
        dom.matches("<svg").count(),
        SVGS_PER_RUN * report.runs.len()
    );
    assert_eq!(
        dom.matches("class=\"tl-row\"").count(),
        NODES.len() * report.runs.len()
    );
    assert_eq!(
        dom.matches("class=\"container-card\"").count(),
        2 * report.runs.len()
    );
    for node in NODES {
        assert!(dom.contains(node), "{node} not on the page");
    }
    assert!(dom.contains("shop/checkout-7d9f8-abcde/app"));
    assert!(dom.contains("Totals, side by side"));
    assert!(dom.contains("CPU_THRESHOLD=75"));
}

/// The readouts: a pointer moved over each line chart must make its readout give the time and values there.
#[test]
fn hovering_a_chart_reads_out_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let html = html::render(&realistic_report());
    // A probe after the page's own script: moves a pointer to 15:00 UTC on each chart and keeps what it read.
    let probe = r#"<script>
      document.querySelectorAll("svg.lc").forEach(function (svg, i) {
        var box = svg.getBoundingClientRect(), scale = box.width / svg.viewBox.baseVal.width;
        var left = Number(svg.dataset.left), right = Number(svg.dataset.right);
        var from = Number(svg.dataset.from), to = Number(svg.dataset.to);
        var t = from + 15 * 3600, x = left + (t - from) / (to - from) * (right - left);
        svg.dispatchEvent(new MouseEvent("mousemove", { clientX: box.left + x * scale, clientY: box.top + 40, bubbles: true }));
        document.body.setAttribute("data-readout-" + i, svg.nextElementSibling.textContent);
      });
    </script></body>"#;
    let page = write_page(dir.path(), "probe.html", &html.replace("</body>", probe));
    let browser = chromium(
        &[
            "--dump-dom".to_string(),
            "--window-size=1400,2200".to_string(),
        ],
        &page,
    );
    no_script_error(&browser);
    let dom = String::from_utf8_lossy(&browser.output.stdout);
    let readout = |i: usize| {
        let key = format!("data-readout-{i}=\"");
        let start = dom
            .find(&key)
            .unwrap_or_else(|| panic!("chart {i} gave no readout"))
            + key.len();
        let end = dom[start..].find('"').unwrap() + start;
        dom[start..end].to_string()
    };
    // Run 1: the cap chart, then per top container CPU and memory.
    // The pointer lands on a whole CSS pixel: a pixel is about two minutes here.
    let minutes_after_15 = |text: &str| {
        let (hour, minute) = (&text[11..13], &text[14..16]);
        (hour.parse::<i64>().unwrap() * 60 + minute.parse::<i64>().unwrap() - 15 * 60).abs()
    };
    let cap = readout(0);
    assert!(
        cap.starts_with("2024-06-14 ")
            && cap[16..].starts_with(" UTC")
            && minutes_after_15(&cap) <= 5,
        "{cap}"
    );
    assert!(cap.contains("tainted 1") && cap.contains("cap 1"), "{cap}");
    let cpu = readout(1);
    assert!(
        cpu.contains("request 700m") && cpu.contains("limit 1.4 cores"),
        "{cpu}"
    );
    assert!(cpu.contains("request before 1 core"), "{cpu}");
    let memory = readout(2);
    assert!(
        memory.contains("request 512 MiB") && memory.contains("limit 768 MiB"),
        "{memory}"
    );
    assert!(
        memory.contains("usage ") && memory.contains(" MiB"),
        "{memory}"
    );
}
