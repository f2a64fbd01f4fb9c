//! `make demo` keeps working: a small run of the demo against the workspace's own `kube-thermostat` build.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

#[test]
fn demo_taints_untaints_resizes_and_then_settles() {
    let demo = PathBuf::from(env!("CARGO_BIN_EXE_thermostat-demo"));
    // Cargo builds the workspace's binaries into the same directory before running tests.
    let hook = demo.with_file_name("kube-thermostat");
    assert!(
        hook.is_file(),
        "{} missing: run the workspace's tests (cargo test --workspace)",
        hook.display()
    );
    let output = Command::new(&demo)
        .args([
            "--binary",
            hook.to_str().unwrap(),
            "--nodes",
            "20",
            "--containers",
            "60",
            "--ticks",
            "2",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("+ tainted"),
        "a hot node is tainted:\n{stdout}"
    );
    assert!(
        stdout.contains("- untainted"),
        "the pre-tainted cool node is untainted:\n{stdout}"
    );
    assert!(
        stdout.contains(" cpu ") && stdout.contains(" → "),
        "containers are resized:\n{stdout}"
    );
    let tick_2 = stdout.split("── tick 2").nth(1).unwrap();
    assert!(
        // The one request: the GET of the hook's own pod for its counter totals (nothing counted: no write).
        tick_2.contains("taint-nodes: ok; 1 Prometheus query, 1 API request (0 writes)"),
        "{tick_2}"
    );
    assert!(tick_2.contains("(0 writes)\n  no resizes"), "{tick_2}");
    assert!(stdout.contains("failed ticks 0"));
}
