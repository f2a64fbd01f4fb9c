//! Each setting's env variable and flag, read from clap's definition of [`RawSettings`] (`src/cli.rs`) by the
//! field's id, so a setting's name is written once. Imports only the command-line definition.

use std::sync::OnceLock;

use clap::{Args, Command};

use crate::cli::RawSettings;

/// How a person sets one setting: its env variable and its long flag (without `--`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name {
    pub env: &'static str,
    pub flag: &'static str,
}

/// clap's definition of the settings, built once: the names borrowed from it live as long as the program.
pub(super) fn definition() -> &'static Command {
    static DEFINITION: OnceLock<Command> = OnceLock::new();
    DEFINITION.get_or_init(|| RawSettings::augment_args(Command::new("kube-thermostat")))
}

/// The name of the [`RawSettings`] field `id`. Use `name!`, which checks that the field exists.
pub fn of(id: &str) -> Name {
    let arg = definition()
        .get_arguments()
        .find(|arg| arg.get_id().as_str() == id);
    let env = arg
        .and_then(|arg| arg.get_env())
        .and_then(|env| env.to_str());
    let flag = arg.and_then(|arg| arg.get_long());
    match (env, flag) {
        (Some(env), Some(flag)) => Name { env, flag },
        // Every field but `kubeconfig` has both, as the test below proves, and `kubeconfig` is never checked.
        _ => panic!("the setting {id} has no env variable or flag in RawSettings"),
    }
}

/// The [`Name`] of a [`RawSettings`] field: `name!(hot_window)`. A field that does not exist does not compile.
macro_rules! name {
    ($field:ident) => {{
        let _the_field_exists = |raw: &$crate::cli::RawSettings| {
            let _ = &raw.$field;
        };
        $crate::settings::names::of(stringify!($field))
    }};
}
pub(crate) use name;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_setting_has_an_env_and_a_flag_and_no_env_is_used_twice() {
        let mut envs = BTreeSet::new();
        for arg in definition().get_arguments() {
            let id = arg.get_id().as_str();
            if id == "kubeconfig" {
                // KUBECONFIG is read as kubectl reads it (`:`-separated files), by the kubeconfig loader.
                assert_eq!(arg.get_env(), None);
                continue;
            }
            let name = of(id);
            assert!(
                envs.insert(name.env),
                "{} is the env of two settings",
                name.env
            );
        }
        assert!(envs.len() > 60, "{envs:?}");
    }

    #[test]
    fn a_name_is_the_env_and_flag_clap_defines() {
        assert_eq!(
            name!(hot_window),
            Name {
                env: "HOT_WINDOW",
                flag: "hot-window"
            }
        );
        assert_eq!(
            name!(dry_run),
            Name {
                env: "DRY_RUN",
                flag: "shadow"
            }
        );
        assert_eq!(name!(prometheus_headers).flag, "prometheus-header");
    }
}
