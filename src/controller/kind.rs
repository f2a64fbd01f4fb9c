//! Which controller: the one name of each, as typed on the command line (`run taint-nodes|resize-pods`), as
//! shell-operator's binding, and as the metrics group and counter annotation are derived from it.
//!
//! A leaf: it imports only clap, so the command line can name controllers without importing what runs them
//! (and without a cycle through the hook configuration, which the settings render). The tests hold the names
//! equal to clap's and to the hook configuration's binding names.

use clap::ValueEnum;

/// A controller of kube-thermostat. The order is the order a tick runs them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum Controller {
    TaintNodes,
    ResizePods,
}

impl Controller {
    /// Every controller, in the order a tick runs them.
    pub const ALL: [Controller; 2] = [Controller::TaintNodes, Controller::ResizePods];

    /// The binding name in the shell-operator configuration; also its name on the command line, in logs and
    /// in metrics labels.
    pub fn binding(self) -> &'static str {
        match self {
            Controller::TaintNodes => "taint-nodes",
            Controller::ResizePods => "resize-pods",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_name_is_the_binding_name() {
        for controller in Controller::ALL {
            let typed = controller
                .to_possible_value()
                .expect("every controller can be typed");
            assert_eq!(typed.get_name(), controller.binding());
        }
        use crate::hook::config::binding;
        assert_eq!(Controller::TaintNodes.binding(), binding::TAINT_NODES);
        assert_eq!(Controller::ResizePods.binding(), binding::RESIZE_PODS);
    }

    #[test]
    fn all_lists_every_controller_in_running_order() {
        assert_eq!(Controller::value_variants(), Controller::ALL);
        assert!(Controller::ALL.is_sorted());
    }
}
