//! Parses arguments and dispatches; everything else lives in the library.

fn main() -> std::process::ExitCode {
    kube_thermostat::app::run(std::env::args_os()).into()
}
