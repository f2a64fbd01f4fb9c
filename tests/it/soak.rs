//! The soak (`make soak`, not part of `make test`): hundreds of taint-nodes ticks in real time against a real
//! Prometheus fed new samples as time goes, with load that rises, falls, flaps around and inside the hysteresis
//! band, series that vanish and return, and API faults at a rate. After every tick the invariants are checked;
//! at the end the figures are printed. SOAK_TICKS (default 300) sets the length; a tick runs about every second.
//!
//! The hook has no fake clock (it queries at wall-clock now), so the windows are short: QUERY_STEP 5s,
//! HOT_WINDOW 20s, COOL_WINDOW 30s, and the load is a custom gauge signal (CUSTOM_QUERY) so that it is seen at
//! once, without the CPU query's 2m rate window.

use crate::support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::{Fault, FaultKind, NodeHistory, Profile, Series};
use serde_json::{Value, json};
use thermostat_rig::apiserver::FOREIGN_TAINT_KEY;

const OUR_KEY: &str = "kube-thermostat.io/hot";
const HOT_WINDOW: f64 = 20.0;
const COOL_WINDOW: f64 = 30.0;
const THRESHOLD: f64 = 80.0;
const UNTAINT: f64 = 70.0;
/// How late a change may come beyond its window: query step, tick interval, a failed tick.
const SLACK: f64 = 12.0;
const PERIOD: f64 = 120.0;
/// Seconds of history pushed before the first tick.
const HISTORY: f64 = 40.0;

const ENV: &[(&str, &str)] = &[
    ("QUERY_STEP", "5s"),
    ("HOT_WINDOW", "20s"),
    ("COOL_WINDOW", "30s"),
    ("CUSTOM_QUERY", "soak_load_percent"),
    ("CUSTOM_THRESHOLD", "80"),
    ("CUSTOM_UNTAINT_THRESHOLD", "70"),
    ("MAX_TAINTED_FRACTION", "0.5"),
    ("TICK_TIMEOUT", "10s"),
    ("PROMETHEUS_TIMEOUT", "5s"),
];

const NODES: [&str; 8] = [
    "wave",
    "flap-edge",
    "flap-band",
    "steady-hot",
    "vanish",
    "cool-1",
    "cool-2",
    "cool-3",
];

/// Load (percent) of `node` at `t` seconds into the soak; `None` while its series is absent.
fn load(node: &str, t: f64) -> Option<f64> {
    // Defined before t = 0 too: the history pushed before the first tick.
    let phase = t.rem_euclid(PERIOD) / PERIOD;
    let every = |seconds: f64| (t / seconds).floor() as i64 % 2 == 0;
    match node {
        // Rises and falls: hot for half a period, cool for the other half.
        "wave" => Some(if phase < 0.5 { 95.0 } else { 20.0 }),
        // Flaps across both thresholds every 2 s: never hot for a whole hot window, never cool for a cool one.
        "flap-edge" => Some(if every(2.0) { 90.0 } else { 55.0 }),
        // Inside the hysteresis band: never a change.
        "flap-band" => Some(if every(3.0) { 72.0 } else { 78.0 }),
        "steady-hot" => Some(95.0),
        // Hot, then absent for 40% of each period (the exporter is down), then back.
        "vanish" => (phase < 0.6).then_some(92.0),
        _ => Some(30.0),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The samples of every whole second from `from_second` to `to_second` after `start_ms`, on a fixed grid
/// whatever the ticks' timing (pushes at tick times would alias with the flapping and make it look steady): the custom gauge and a calm CPU (10% busy: the idle counter grows
/// 0.9 s a second; it restarts every ~28 h, which `rate` reads as a counter reset).
fn samples(from_second: i64, to_second: i64, start_ms: i64) -> Vec<Series> {
    let grid: Vec<(f64, i64)> = (from_second..=to_second)
        .map(|second| (second as f64, start_ms + second * 1000))
        .collect();
    let mut series = Vec::new();
    for node in NODES {
        let instance = NodeHistory::new(node, Profile::Constant(0.0)).instance;
        let labels = [
            ("instance", instance.as_str()),
            ("job", "node-exporter"),
            ("node", node),
        ];
        let mut cpu = labels.to_vec();
        cpu.extend([("cpu", "0"), ("mode", "idle")]);
        // Idle grows 0.9 s per second from a fixed origin: a counter consistent across pushes.
        series.push(
            Series::new("node_cpu_seconds_total", &cpu).with_samples(
                grid.iter()
                    .map(|(_, at_ms)| (*at_ms, (at_ms % 100_000_000) as f64 / 1000.0 * 0.9))
                    .collect(),
            ),
        );
        let gauge: Vec<(i64, f64)> = grid
            .iter()
            .filter_map(|(t, at_ms)| Some((*at_ms, load(node, *t)?)))
            .collect();
        if !gauge.is_empty() {
            series.push(Series::new("soak_load_percent", &[("node", node)]).with_samples(gauge));
        }
    }
    series
}

/// The longest time before `t` that `node`'s load satisfied `pred` continuously (sampled each second).
fn held_for(node: &str, t: f64, pred: impl Fn(f64) -> bool) -> f64 {
    let mut back = 0.0;
    while back < t + HISTORY {
        match load(node, t - back) {
            Some(v) if pred(v) => back += 1.0,
            _ => break,
        }
    }
    back
}

fn ours(node: &Value) -> usize {
    node["spec"]["taints"].as_array().map_or(0, |taints| {
        taints.iter().filter(|t| t["key"] == OUR_KEY).count()
    })
}

fn foreign(node: &Value) -> Vec<Value> {
    node["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t["key"] != OUR_KEY && t["key"] != FOREIGN_TAINT_KEY)
        .collect()
}

/// Peak RSS of the hook: a wrapper that runs it and appends its children's max RSS (KiB) to a file.
fn rss_wrapper(
    dir: &std::path::Path,
    binary: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let log = dir.join("rss.log");
    let wrapper = dir.join("hook-with-rss");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec python3 -c 'import resource,subprocess,sys\nr=subprocess.call(sys.argv[1:])\nopen(\"{}\",\"a\").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)+\"\\n\")\nsys.exit(r)' {} \"$@\"\n",
            log.display(),
            binary.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    (wrapper, log)
}

#[test]
#[ignore = "soak: minutes of real time; run with `make soak`"]
fn soak_taint_nodes_under_moving_load_and_faults() {
    let ticks: usize = std::env::var("SOAK_TICKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut cluster = support::cluster();
    for (i, node) in NODES.iter().enumerate() {
        cluster.add_node(
            node,
            json!({"spec": {"taints": [{"key": "team.example/pool", "value": format!("p{i}"), "effect": "NoSchedule"}]},
                   "metadata": {"annotations": {"team.example/owner": format!("o{i}")}}}),
        );
    }
    let (wrapper, rss_log) = rss_wrapper(cluster.dir.path(), &cluster.binary);
    cluster.binary = wrapper;

    let start_ms = now_ms();
    // History before t = 0, every second, so the first windows are full.
    cluster.push(samples(-(HISTORY as i64), 0, start_ms));
    let mut pushed_until = 0;
    let started = Instant::now();
    let foreign_before: BTreeMap<&str, Vec<Value>> = NODES
        .iter()
        .map(|n| (*n, foreign(&cluster.node(n))))
        .collect();

    let mut figures = BTreeMap::<&str, usize>::new();
    let mut last_state: BTreeMap<&str, bool> = NODES.iter().map(|n| (*n, false)).collect();
    let mut changes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut last_ok_tick = 0.0;
    let faults = [
        FaultKind::Status {
            code: 429,
            retry_after: Some(1),
        },
        FaultKind::Status {
            code: 503,
            retry_after: None,
        },
        FaultKind::DropConnection,
        FaultKind::ConflictOnce,
        FaultKind::Status {
            code: 500,
            retry_after: None,
        },
    ];

    for tick in 0..ticks {
        let t = started.elapsed().as_secs_f64();
        let second = (now_ms() - start_ms) / 1000;
        if second > pushed_until {
            cluster.push(samples(pushed_until + 1, second, start_ms));
            pushed_until = second;
        }
        if tick % 7 == 3 {
            cluster.api.inject(Fault::on(
                "PATCH",
                "/api/v1/nodes/",
                faults[tick % faults.len()].clone(),
                1,
            ));
            *figures.entry("faults injected").or_default() += 1;
        }
        let output = cluster.tick("taint-nodes", ENV);
        cluster.api.clear_faults();
        *figures
            .entry(if output.code == 0 {
                "ticks ok"
            } else {
                "ticks exit 1"
            })
            .or_default() += 1;
        assert!(
            matches!(output.code, 0 | 1),
            "tick {tick}: {}",
            output.stderr
        );
        if output.code == 0 {
            last_ok_tick = t;
        }
        assert!(
            t - last_ok_tick < 3.0 * SLACK,
            "no successful tick for long: {}",
            output.stderr
        );

        let t = started.elapsed().as_secs_f64();
        let mut tainted = 0;
        for node in NODES {
            let object = cluster.node(node);
            let count = ours(&object);
            assert!(
                count <= 1,
                "tick {tick}: {node} has our taint {count} times"
            );
            assert_eq!(
                foreign(&object),
                foreign_before[node],
                "tick {tick}: {node} foreign taints"
            );
            assert_eq!(
                object["metadata"]["annotations"]["team.example/owner"],
                NODES
                    .iter()
                    .position(|n| *n == node)
                    .map(|i| format!("o{i}"))
                    .unwrap()
            );
            let is = count == 1;
            tainted += usize::from(is);
            if is != last_state[node] {
                *changes.entry(node).or_default() += 1;
                // Inside the band or flapping: never a change.
                assert!(
                    !matches!(
                        node,
                        "flap-edge" | "flap-band" | "cool-1" | "cool-2" | "cool-3"
                    ),
                    "tick {tick} t={t:.0}s: {node} flipped ({is})\n{}",
                    output.stderr
                );
                // A vanished series changes nothing.
                assert!(
                    load(node, t).is_some() || node != "vanish",
                    "tick {tick}: vanish changed while absent"
                );
            }
            last_state.insert(node, is);
            // Follows the load within its debounce window (+ slack), once a tick has succeeded since.
            if output.code == 0 && load(node, t).is_some() {
                if held_for(node, t, |v| v > THRESHOLD) > HOT_WINDOW + SLACK {
                    assert!(
                        is,
                        "tick {tick} t={t:.0}s: {node} hot long enough, not tainted\n{}",
                        output.stderr
                    );
                }
                if held_for(node, t, |v| v < UNTAINT) > COOL_WINDOW + SLACK {
                    assert!(
                        !is,
                        "tick {tick} t={t:.0}s: {node} cool long enough, still tainted\n{}",
                        output.stderr
                    );
                }
            }
            *figures.entry("invariant checks passed").or_default() += 6;
        }
        assert!(tainted <= 4, "cap (50% of 8) holds: {tainted}");
        std::thread::sleep(Duration::from_millis(700));
    }

    // Hysteresis bounds the number of changes: at most two per load period for the moving nodes.
    let elapsed = started.elapsed().as_secs_f64();
    let periods = (elapsed / PERIOD).ceil() as usize;
    for node in ["wave", "vanish", "steady-hot"] {
        let count = changes.get(node).copied().unwrap_or(0);
        assert!(
            count <= 2 * periods + 1,
            "{node}: {count} changes in {periods} periods"
        );
    }
    let rss: Vec<u64> = std::fs::read_to_string(&rss_log)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let median = |xs: &[u64]| {
        let mut v = xs.to_vec();
        v.sort();
        v[v.len() / 2]
    };
    let window = (rss.len() / 5).max(1);
    let (first, last) = (median(&rss[..window]), median(&rss[rss.len() - window..]));
    assert!(
        last <= first + first / 5 + 2048,
        "peak RSS grew: {first} KiB -> {last} KiB"
    );

    println!("soak figures");
    println!("  ticks: {ticks} in {elapsed:.0} s");
    for (name, value) in &figures {
        println!("  {name}: {value}");
    }
    println!("  taint changes per node: {changes:?}");
    println!("  hook peak RSS (median KiB): first {first}, last {last}");
    println!("  foreign taints or annotations lost: 0");
}
