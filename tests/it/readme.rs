//! The README is the operator's reference: every setting the binary accepts is documented there.

use std::process::Command;

#[test]
fn every_setting_in_help_is_in_the_readme_table() {
    let output = Command::new(env!("CARGO_BIN_EXE_kube-thermostat"))
        .arg("--help")
        .env_clear()
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut missing = Vec::new();
    for env in help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
    {
        if !readme.contains(&format!("| `{env}` |")) {
            missing.push(env.to_owned());
        }
    }
    assert!(
        missing.is_empty(),
        "settings missing from README's table: {missing:?}"
    );
    assert!(
        help.matches("[env: ").count() > 60,
        "help lists the settings with their env names"
    );
}
