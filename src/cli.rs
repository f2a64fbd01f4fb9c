//! What was typed: the raw command line and environment, as clap sees it.
//!
//! Every setting arrives here as text and is checked in [`crate::settings`]. Keeping clap untyped is on purpose:
//! `--config` runs at shell-operator's start-up and must not fail because an unrelated setting (say
//! `CPU_THRESHOLD=abc`) is wrong; the tick reports that instead, naming the setting.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::controller::kind::Controller;

#[derive(Debug, Parser)]
#[command(
    name = "kube-thermostat",
    version,
    about = "Taints hot nodes and resizes hot and idle pods in place, from Prometheus load.",
    long_about = "Taints hot nodes and resizes hot and idle pods in place, from Prometheus load.\n\n\
        As a shell-operator hook: `--config` prints the hook configuration; without arguments it reads \
        BINDING_CONTEXT_PATH and runs the ticks it names. By hand: `kube-thermostat run [CONTROLLER]... --dry-run`. \
        Before enabling a policy: `kube-thermostat replay --last 24h` decides over recorded history, writing nothing.\n\n\
        Every option can also be set by the environment variable shown with it.",
    args_conflicts_with_subcommands = true,
    // `replay --compare` re-parses the command line with the compared settings appended: the last one wins.
    args_override_self = true
)]
pub struct Cli {
    /// Print the shell-operator hook configuration (JSON) and exit.
    #[arg(long)]
    pub config: bool,

    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub settings: RawSettings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run controllers once by hand, without shell-operator (reads the cluster itself).
    Run(RunArgs),
    /// Decide over a past period from Prometheus' history, as live ticks would have, and report what would
    /// have happened. Writes nothing to the cluster.
    Replay(ReplayArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Controllers to replay (default: every enabled one).
    #[arg(value_enum)]
    pub controllers: Vec<Controller>,

    /// Start of the period (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    #[arg(long, conflicts_with = "last", required_unless_present = "last")]
    pub from: Option<String>,

    /// End of the period (RFC 3339); default now.
    #[arg(long, conflicts_with = "last")]
    pub to: Option<String>,

    /// The period as the last DURATION until now: 90m, 24h, 7d.
    #[arg(long, value_name = "DURATION")]
    pub last: Option<String>,

    /// Tick every DURATION from the start instead of at the controllers' schedules (TAINT_SCHEDULE,
    /// RESIZE_SCHEDULE).
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,

    /// Read nodes, pods and namespaces (HPAs, VPAs and LimitRanges too, if present) from FILE, as
    /// `kubectl get nodes,pods,namespaces,hpa,limitranges -A -o json` writes it, instead of from the cluster.
    #[arg(long, value_name = "FILE")]
    pub objects: Option<PathBuf>,

    /// How to print the report.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Also write the report as one self-contained HTML page with charts.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Replay a second set of settings side by side: ENV=VALUE, repeatable (e.g. --compare CPU_THRESHOLD=75
    /// --compare CPU_UNTAINT_THRESHOLD=60).
    #[arg(long, value_name = "ENV=VALUE")]
    pub compare: Vec<String>,

    /// A taint removed, or a node tainted again, within this long of the last change counts as a flap.
    #[arg(long, value_name = "DURATION", default_value = "30m")]
    pub flap_window: String,

    /// The Kubernetes minor version resize-pods decides for when the objects come from a file.
    #[arg(long, value_name = "MINOR", default_value_t = 33)]
    pub server_minor: u32,

    /// How many containers the report charts, size against usage.
    #[arg(long, value_name = "N", default_value_t = 12)]
    pub top: usize,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Controllers to run (default: every enabled one).
    #[arg(value_enum)]
    pub controllers: Vec<Controller>,

    /// Decide and print the plan; write nothing, whatever DRY_RUN / TAINT_DRY_RUN / RESIZE_DRY_RUN say.
    // Its own id: the setting behind `--shadow` (DRY_RUN) is `dry_run`.
    #[arg(long = "dry-run", id = "preview")]
    pub dry_run: bool,

    /// How to print the plan.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// taint-nodes only: remove our taints (and only ours) from every node, whatever the load. For uninstalling.
    #[arg(long)]
    pub remove_all: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// Settings as typed. Each setting's env variable, flag, default and help are defined here and nowhere else;
/// [`crate::settings`] checks the values (and reads the names from here).
#[derive(Debug, Clone, Default, Args)]
pub struct RawSettings {
    // ---- Hook and tick -------------------------------------------------------------------------------
    /// Crontab of the taint-nodes schedule binding (5 or 6 fields, or `@every 30s`).
    #[arg(
        long,
        env = "TAINT_SCHEDULE",
        default_value = "* * * * *",
        global = true,
        help_heading = "Hook"
    )]
    pub taint_schedule: String,

    /// Crontab of the resize-pods schedule binding.
    #[arg(
        long,
        env = "RESIZE_SCHEDULE",
        default_value = "*/2 * * * *",
        global = true,
        help_heading = "Hook"
    )]
    pub resize_schedule: String,

    /// Run the taint-nodes controller at all (its binding is left out of --config when false).
    #[arg(
        long,
        env = "TAINT_ENABLED",
        default_value = "true",
        global = true,
        help_heading = "Hook"
    )]
    pub taint_enabled: String,

    /// Run the resize-pods controller at all.
    #[arg(
        long,
        env = "RESIZE_ENABLED",
        default_value = "true",
        global = true,
        help_heading = "Hook"
    )]
    pub resize_enabled: String,

    /// Let shell-operator pass cached Nodes and Pods (snapshots) so a tick makes no LIST.
    #[arg(
        long,
        env = "SNAPSHOTS",
        default_value = "true",
        global = true,
        help_heading = "Hook"
    )]
    pub snapshots: String,

    /// Wall-clock budget of one tick; every request is bounded by it. Keep it under shell-operator's 30 s
    /// shutdown budget, after which a tick in flight is killed.
    #[arg(
        long,
        env = "TICK_TIMEOUT",
        default_value = "25s",
        global = true,
        help_heading = "Hook"
    )]
    pub tick_timeout: String,

    /// Shadow mode for every controller: decide, log and export metrics (labelled dry_run), write nothing.
    #[arg(
        long = "shadow",
        env = "DRY_RUN",
        default_value = "false",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        global = true,
        help_heading = "Hook"
    )]
    pub dry_run: String,

    /// Shadow mode for taint-nodes only (default: DRY_RUN).
    #[arg(
        long = "taint-shadow",
        env = "TAINT_DRY_RUN", num_args = 0..=1, require_equals = true, default_missing_value = "true", global = true, help_heading = "Hook")]
    pub taint_dry_run: Option<String>,

    /// Shadow mode for resize-pods only (default: DRY_RUN).
    #[arg(
        long = "resize-shadow",
        env = "RESIZE_DRY_RUN", num_args = 0..=1, require_equals = true, default_missing_value = "true", global = true, help_heading = "Hook")]
    pub resize_dry_run: Option<String>,

    /// Log format on stderr: `text` or `json` (shell-operator's own setting).
    #[arg(
        long,
        env = "LOG_TYPE",
        default_value = "text",
        global = true,
        help_heading = "Hook"
    )]
    pub log_type: String,

    /// Least severe log level shown: `debug`, `info`, `warn` or `error`.
    #[arg(
        long,
        env = "LOG_LEVEL",
        default_value = "info",
        global = true,
        help_heading = "Hook"
    )]
    pub log_level: String,

    // ---- Prometheus ----------------------------------------------------------------------------------
    /// Prometheus (or Thanos/Cortex/Mimir query frontend) base URL, path prefix included. Required for a tick.
    #[arg(
        long,
        env = "PROMETHEUS_URL",
        global = true,
        help_heading = "Prometheus"
    )]
    pub prometheus_url: Option<String>,

    /// File holding a bearer token; re-read on every tick so rotated tokens work.
    #[arg(
        long,
        env = "PROMETHEUS_BEARER_TOKEN_FILE",
        global = true,
        help_heading = "Prometheus"
    )]
    pub prometheus_bearer_token_file: Option<String>,

    /// Basic-auth user name.
    #[arg(
        long,
        env = "PROMETHEUS_USERNAME",
        global = true,
        help_heading = "Prometheus"
    )]
    pub prometheus_username: Option<String>,

    /// Basic-auth password (prefer PROMETHEUS_PASSWORD_FILE).
    #[arg(
        long,
        env = "PROMETHEUS_PASSWORD",
        hide_env_values = true,
        global = true,
        help_heading = "Prometheus"
    )]
    pub prometheus_password: Option<String>,

    /// File holding the basic-auth password.
    #[arg(
        long,
        env = "PROMETHEUS_PASSWORD_FILE",
        global = true,
        help_heading = "Prometheus"
    )]
    pub prometheus_password_file: Option<String>,

    /// PEM file of the CA that signed Prometheus' certificate.
    #[arg(
        long,
        env = "PROMETHEUS_CA_FILE",
        global = true,
        help_heading = "Prometheus"
    )]
    pub prometheus_ca_file: Option<String>,

    /// PEM client certificate for mutual TLS (with --prometheus-client-key-file).
    #[arg(
        long,
        env = "PROMETHEUS_CLIENT_CERT_FILE",
        global = true,
        help_heading = "Prometheus"
    )]
    pub prometheus_client_cert_file: Option<String>,

    /// PEM private key of the client certificate.
    #[arg(
        long,
        env = "PROMETHEUS_CLIENT_KEY_FILE",
        global = true,
        help_heading = "Prometheus"
    )]
    pub prometheus_client_key_file: Option<String>,

    /// Skip TLS verification of Prometheus (never done unless asked).
    #[arg(
        long,
        env = "PROMETHEUS_INSECURE_SKIP_TLS_VERIFY",
        default_value = "false",
        global = true,
        help_heading = "Prometheus"
    )]
    pub prometheus_insecure_skip_tls_verify: String,

    /// Extra request header `Name: value` (repeatable; in the env, comma-separated), e.g. `X-Scope-OrgID: team-a`.
    #[arg(
        long = "prometheus-header",
        env = "PROMETHEUS_HEADERS",
        value_delimiter = ',',
        global = true,
        help_heading = "Prometheus"
    )]
    pub prometheus_headers: Vec<String>,

    /// Per-query timeout (also sent as the server-side `timeout`). The history subqueries of a cluster-wide query
    /// take seconds on big clusters.
    #[arg(
        long,
        env = "PROMETHEUS_TIMEOUT",
        default_value = "30s",
        global = true,
        help_heading = "Prometheus"
    )]
    pub prometheus_timeout: String,

    /// Retries of a query after a 5xx, timeout or connection error (within the tick's deadline).
    #[arg(
        long,
        env = "PROMETHEUS_RETRIES",
        default_value = "2",
        global = true,
        help_heading = "Prometheus"
    )]
    pub prometheus_retries: String,

    /// Largest Prometheus answer read (a quantity: 256Mi). A range answer read as it arrives may be 4 times this;
    /// resize-pods asks for four statistics instead when its range answer is over.
    #[arg(
        long,
        env = "PROMETHEUS_MAX_RESPONSE_BYTES",
        default_value = "256Mi",
        global = true,
        help_heading = "Prometheus"
    )]
    pub prometheus_max_response_bytes: String,

    // ---- Kubernetes ----------------------------------------------------------------------------------
    /// kubeconfig file (the KUBECONFIG variable, `:`-separated files, is read as kubectl does). Neither set:
    /// ~/.kube/config if present, else the in-cluster service account.
    #[arg(long, global = true, help_heading = "Kubernetes")]
    pub kubeconfig: Option<String>,

    /// kubeconfig context to use instead of current-context.
    #[arg(long, env = "KUBE_CONTEXT", global = true, help_heading = "Kubernetes")]
    pub context: Option<String>,

    /// API server URL without credentials, e.g. `kubectl proxy`'s http://127.0.0.1:8001. Overrides kubeconfig.
    #[arg(long, env = "KUBE_API_URL", global = true, help_heading = "Kubernetes")]
    pub kube_api_url: Option<String>,

    /// Client-side limit of our API requests per second, retries included (0: no limit). As the kubelet's and
    /// VPA's default: a first tick on a big cluster must not flood the priority level controllers share.
    #[arg(
        long,
        env = "KUBE_API_QPS",
        default_value = "50",
        global = true,
        help_heading = "Kubernetes"
    )]
    pub kube_api_qps: String,

    /// Requests that may go at once before KUBE_API_QPS paces them.
    #[arg(
        long,
        env = "KUBE_API_BURST",
        default_value = "100",
        global = true,
        help_heading = "Kubernetes"
    )]
    pub kube_api_burst: String,

    // ---- taint-nodes ---------------------------------------------------------------------------------
    /// Node CPU busy % above which a node is hot (for HOT_WINDOW).
    #[arg(
        long,
        env = "CPU_THRESHOLD",
        default_value = "80",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub cpu_threshold: String,

    /// Node CPU busy % below which a tainted node is cool (for COOL_WINDOW). Default: CPU_THRESHOLD - 10 (half of
    /// it below 20).
    #[arg(
        long,
        env = "CPU_UNTAINT_THRESHOLD",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub cpu_untaint_threshold: Option<String>,

    /// Node memory used % above which a node is hot. Unset: memory is not a signal.
    #[arg(
        long,
        env = "MEMORY_THRESHOLD",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub memory_threshold: Option<String>,

    /// Node memory used % below which a node is cool. Default: MEMORY_THRESHOLD - 10 (half of it below 20).
    #[arg(
        long,
        env = "MEMORY_UNTAINT_THRESHOLD",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub memory_untaint_threshold: Option<String>,

    /// Extra PromQL signal returning 0-100 per node (labelled `node` or `instance`). Needs CUSTOM_THRESHOLD.
    #[arg(
        long,
        env = "CUSTOM_QUERY",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub custom_query: Option<String>,

    /// Threshold of CUSTOM_QUERY.
    #[arg(
        long,
        env = "CUSTOM_THRESHOLD",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub custom_threshold: Option<String>,

    /// Untaint threshold of CUSTOM_QUERY. Default: CUSTOM_THRESHOLD - 10 (half of it below 20).
    #[arg(
        long,
        env = "CUSTOM_UNTAINT_THRESHOLD",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub custom_untaint_threshold: Option<String>,

    /// Key of our taint. Dedicated to kube-thermostat: a taint with this key and effect is ours. Keys under
    /// kubernetes.io/k8s.io are reserved for Kubernetes (warned); status-taint.cluster-autoscaler.kubernetes.io/
    /// is cluster-autoscaler's prefix for taints of other tools.
    #[arg(
        long,
        env = "TAINT_KEY",
        default_value = "kube-thermostat.io/hot",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub taint_key: String,

    /// Taints left by another tool to take over, `key:Effect` comma-separated (e.g. the seed script's
    /// node.kubernetes.io/pressure:NoSchedule): removed when the node is cool and by --remove-all, never added.
    #[arg(
        long,
        env = "ADOPT_TAINTS",
        default_value = "",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub adopt_taints: String,

    /// Value of our taint.
    #[arg(
        long,
        env = "TAINT_VALUE",
        default_value = "true",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub taint_value: String,

    /// Effect of our taint: NoSchedule or PreferNoSchedule (NoExecute needs ALLOW_NO_EXECUTE).
    #[arg(
        long,
        env = "TAINT_EFFECT",
        default_value = "NoSchedule",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub taint_effect: String,

    /// Allow TAINT_EFFECT=NoExecute, which evicts running pods without a toleration.
    #[arg(
        long,
        env = "ALLOW_NO_EXECUTE",
        default_value = "false",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub allow_no_execute: String,

    /// How long a node must stay above its threshold before it is tainted (Prometheus history).
    #[arg(
        long,
        env = "HOT_WINDOW",
        default_value = "3m",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub hot_window: String,

    /// How long a tainted node must stay below its untaint threshold before the taint goes.
    #[arg(
        long,
        env = "COOL_WINDOW",
        default_value = "5m",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub cool_window: String,

    /// Resolution of the history windows (range query and subquery step), for nodes and containers.
    #[arg(
        long,
        env = "QUERY_STEP",
        default_value = "30s",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub query_step: String,

    /// Most of the eligible nodes that may carry our taint at once (0-1, or a percentage like 30%).
    #[arg(
        long,
        env = "MAX_TAINTED_FRACTION",
        default_value = "0.3",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub max_tainted_fraction: String,

    /// If more than this fraction of nodes has no usable data, make no taint changes at all.
    #[arg(
        long,
        env = "MAX_UNKNOWN_FRACTION",
        default_value = "0.5",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub max_unknown_fraction: String,

    /// Series label naming the node: `auto` (`node` when present, else `instance`) or a label name.
    #[arg(
        long,
        env = "NODE_LABEL",
        default_value = "auto",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub node_label: String,

    /// Node label marking control-plane nodes (never tainted by us).
    #[arg(
        long,
        env = "CONTROL_PLANE_LABEL",
        default_value = "node-role.kubernetes.io/control-plane",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub control_plane_label: String,

    /// Node label `key=value` opting a node out of tainting.
    #[arg(
        long,
        env = "TAINT_EXCLUDE_LABEL",
        default_value = "kube-thermostat.io/exclude=true",
        global = true,
        help_heading = "taint-nodes"
    )]
    pub taint_exclude_label: String,

    // ---- resize-pods ---------------------------------------------------------------------------------
    /// Pod label `key=value` opting a pod into resizing.
    #[arg(
        long,
        env = "RESIZE_POD_SELECTOR",
        default_value = "kube-thermostat.io/resize=true",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_pod_selector: String,

    /// Namespace label `key=value` opting every pod of a namespace into resizing.
    #[arg(
        long,
        env = "RESIZE_NAMESPACE_SELECTOR",
        default_value = "kube-thermostat.io/resize=true",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_namespace_selector: String,

    /// Container CPU utilization % (of limit, else request) above which it is scaled up. Default: CPU_THRESHOLD.
    /// Per pod: annotation kube-thermostat.io/cpu-high.
    #[arg(
        long,
        env = "RESIZE_CPU_HIGH",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_cpu_high: Option<String>,

    /// Utilization % a resize aims for (strictly between the low and high marks). Per pod: annotation
    /// kube-thermostat.io/cpu-target.
    #[arg(
        long,
        env = "RESIZE_CPU_TARGET",
        default_value = "60",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_cpu_target: String,

    /// Utilization % below which (for the whole stabilization window) a container is scaled down. Per pod:
    /// annotation kube-thermostat.io/cpu-low.
    #[arg(
        long,
        env = "RESIZE_CPU_LOW",
        default_value = "30",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_cpu_low: String,

    /// Resize memory too (off by default: lowering memory is riskier than CPU).
    #[arg(
        long,
        env = "RESIZE_MEMORY",
        default_value = "false",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_memory: String,

    /// Working set % of the memory limit (else request) above which memory is scaled up.
    #[arg(
        long,
        env = "RESIZE_MEMORY_HIGH",
        default_value = "90",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_memory_high: String,

    /// Working set % of the new memory size a scale-up aims for.
    #[arg(
        long,
        env = "RESIZE_MEMORY_TARGET",
        default_value = "75",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_memory_target: String,

    /// Headroom % over the window's peak working set kept when scaling memory down.
    #[arg(
        long,
        env = "RESIZE_MEMORY_MARGIN",
        default_value = "20",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_memory_margin: String,

    /// How long utilization must stay above the high mark before scaling up.
    #[arg(
        long,
        env = "RESIZE_SHORT_WINDOW",
        default_value = "3m",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_short_window: String,

    /// How long utilization must stay low (with full history) before scaling down.
    #[arg(
        long,
        env = "RESIZE_STABILIZATION_WINDOW",
        default_value = "30m",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_stabilization_window: String,

    /// The long view a scale-down also keeps (a percentile of usage over this span, so a daily peak is not
    /// forgotten); 0 turns it off.
    #[arg(
        long,
        env = "RESIZE_LONG_WINDOW",
        default_value = "24h",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_long_window: String,

    /// Resolution of the long view: CPU averaged, memory peaked over each step.
    #[arg(
        long,
        env = "RESIZE_LONG_STEP",
        default_value = "5m",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_long_step: String,

    /// With the long view on, no scale-down of a pod younger than this (its long view has not seen its peaks yet).
    #[arg(
        long,
        env = "RESIZE_LONG_MIN_HISTORY",
        default_value = "6h",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_long_min_history: String,

    /// Percentile of the 5-minute CPU averages over the long window that a scale-down keeps (size >= it / target).
    #[arg(
        long,
        env = "RESIZE_CPU_LONG_PERCENTILE",
        default_value = "95",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_cpu_long_percentile: String,

    /// Percentile of the 5-minute working-set peaks over the long window that a memory scale-down keeps (100: the
    /// highest).
    #[arg(
        long,
        env = "RESIZE_MEMORY_LONG_PERCENTILE",
        default_value = "100",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_memory_long_percentile: String,

    /// How a Burstable container's CPU request follows a resize: "ratio" keeps its ratio to the limit; "usage" sizes
    /// it to the container's typical use (RESIZE_CPU_REQUEST_PERCENTILE of the long view plus
    /// RESIZE_CPU_REQUEST_MARGIN) and the limit to its peaks. Per pod: kube-thermostat.io/cpu-request.
    #[arg(
        long,
        env = "RESIZE_CPU_REQUEST",
        default_value = "ratio",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_cpu_request: String,

    /// With RESIZE_CPU_REQUEST=usage: percentile of the 5-minute CPU averages over the long window the request covers.
    #[arg(
        long,
        env = "RESIZE_CPU_REQUEST_PERCENTILE",
        default_value = "80",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_cpu_request_percentile: String,

    /// With RESIZE_CPU_REQUEST=usage: % added to that percentile (the request is at least it x (1 + margin)).
    #[arg(
        long,
        env = "RESIZE_CPU_REQUEST_MARGIN",
        default_value = "15",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_cpu_request_margin: String,

    /// % of CFS periods throttled over the short window that scales CPU up even below the high mark (and, in any
    /// 5 minutes of the long window, holds a scale-down); 0 turns throttling off. Per pod: kube-thermostat.io/cpu-throttle.
    #[arg(
        long,
        env = "RESIZE_CPU_THROTTLE",
        default_value = "10",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_cpu_throttle: String,

    /// After an OOM kill, memory goes at once to at least this multiple of its size (1 turns it off).
    /// Per pod: annotation kube-thermostat.io/oom-bump.
    #[arg(
        long,
        env = "RESIZE_OOM_BUMP",
        default_value = "1.2",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_oom_bump: String,

    /// ... and at least this much more.
    #[arg(
        long,
        env = "RESIZE_OOM_MIN_BUMP",
        default_value = "100Mi",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_oom_min_bump: String,

    /// Most OOM raises of one container within the long window (24h when off): killed again after that, it is
    /// left alone with a warning (a leak is not fixed by more memory).
    #[arg(
        long,
        env = "RESIZE_OOM_MAX_BUMPS",
        default_value = "3",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_oom_max_bumps: String,

    /// Largest growth factor of one step up.
    #[arg(
        long,
        env = "RESIZE_MAX_STEP_UP",
        default_value = "2",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_max_step_up: String,

    /// Largest shrink factor of one step down.
    #[arg(
        long,
        env = "RESIZE_MAX_STEP_DOWN",
        default_value = "2",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_max_step_down: String,

    /// CPU sizes are rounded to a multiple of this (scale-up rounds up).
    #[arg(
        long,
        env = "RESIZE_CPU_GRANULARITY",
        default_value = "10m",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_cpu_granularity: String,

    /// Memory sizes are rounded to a multiple of this.
    #[arg(
        long,
        env = "RESIZE_MEMORY_GRANULARITY",
        default_value = "1Mi",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_memory_granularity: String,

    /// Changes smaller than this fraction of the current size are not made (HPA's tolerance).
    #[arg(
        long,
        env = "RESIZE_TOLERANCE",
        default_value = "0.1",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_tolerance: String,

    /// Smallest CPU size we set (of the limit, else the request). Per pod: annotation kube-thermostat.io/cpu-min.
    #[arg(
        long,
        env = "RESIZE_CPU_MIN",
        default_value = "10m",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_cpu_min: String,

    /// Largest CPU size we set. Per pod: annotation kube-thermostat.io/cpu-max.
    #[arg(
        long,
        env = "RESIZE_CPU_MAX",
        default_value = "16",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_cpu_max: String,

    /// Smallest memory size we set. Per pod: annotation kube-thermostat.io/memory-min.
    #[arg(
        long,
        env = "RESIZE_MEMORY_MIN",
        default_value = "32Mi",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_memory_min: String,

    /// Largest memory size we set. Per pod: annotation kube-thermostat.io/memory-max.
    #[arg(
        long,
        env = "RESIZE_MEMORY_MAX",
        default_value = "64Gi",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_memory_max: String,

    /// No second resize of a container within this time after scaling it up.
    #[arg(
        long,
        env = "RESIZE_COOLDOWN_UP",
        default_value = "3m",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_cooldown_up: String,

    /// No second resize of a container within this time after scaling it down.
    #[arg(
        long,
        env = "RESIZE_COOLDOWN_DOWN",
        default_value = "15m",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_cooldown_down: String,

    /// Also resize containers whose resizePolicy is RestartContainer (the kubelet restarts them).
    #[arg(
        long,
        env = "RESIZE_ALLOW_RESTART",
        default_value = "false",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_allow_restart: String,

    /// Most pods resized (or withdrawn) per tick: withdrawals first, then the hottest upsizes, then downsizes.
    /// Bounds the blast radius and the writes of a first tick; the rest follow on later ticks.
    #[arg(
        long,
        env = "RESIZE_MAX_PODS_PER_TICK",
        default_value = "100",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_max_pods_per_tick: String,

    /// Largest answer, in points (opted-in containers x points per stabilization window), asked for as one range
    /// query per signal (Prometheus selects the series once; the answer is read as it arrives). Above, one
    /// instant query of four statistics (3-4x the Prometheus CPU, a much smaller answer). 0: always that.
    #[arg(
        long,
        env = "RESIZE_QUERY_MAX_POINTS",
        default_value = "6000000",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_query_max_points: String,

    /// A resize left Deferred longer than this is withdrawn (it reserves node capacity meanwhile).
    #[arg(
        long,
        env = "RESIZE_DEFERRED_TIMEOUT",
        default_value = "10m",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_deferred_timeout: String,

    /// After an Infeasible or failed resize, leave the container alone this long.
    #[arg(
        long,
        env = "RESIZE_BACKOFF",
        default_value = "1h",
        global = true,
        help_heading = "resize-pods"
    )]
    pub resize_backoff: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        // clap checks ids, flag names and value types here rather than at a user's first run.
        Cli::command().debug_assert();
    }

    #[test]
    fn run_dry_run_is_a_plain_switch_not_a_value() {
        let cli =
            Cli::try_parse_from(["kube-thermostat", "run", "--dry-run", "taint-nodes"]).unwrap();
        let Some(Command::Run(args)) = cli.command else {
            panic!("run")
        };
        assert!(args.dry_run);
        assert_eq!(args.controllers, [Controller::TaintNodes]);
    }
}
