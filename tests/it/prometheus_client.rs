//! The Prometheus client against a real Prometheus (started per test by the rig), sometimes behind the rig's
//! recording/fault proxy. No answer here is mocked: faults replace an answer, they never imitate a good one.

use k8s_openapi::jiff::Timestamp;
use kube_thermostat::deadline::Deadline;
use kube_thermostat::prometheus::{
    PrometheusClient, PrometheusConfig, PrometheusError, QueryAnswer, QueryResult, RangeSpan,
    Retention, escape_label_value,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use thermostat_rig::prometheus::{
    BASIC_AUTH_PASSWORD, BASIC_AUTH_USER, CertificateAuthority, ContainerLoad, Fault, FaultProxy,
    NodeHistory, PodHistory, Profile, Prometheus, Series, Timeline,
};

fn client(url: &str) -> PrometheusClient {
    PrometheusClient::new(PrometheusConfig::new(url)).unwrap()
}

fn client_with(url: &str, configure: impl FnOnce(&mut PrometheusConfig)) -> PrometheusClient {
    let mut config = PrometheusConfig::new(url);
    configure(&mut config);
    PrometheusClient::new(config).unwrap()
}

fn ten_seconds() -> Deadline {
    Deadline::after(Duration::from_secs(10))
}

fn at(timeline: &Timeline) -> Timestamp {
    Timestamp::from_millisecond(timeline.end_ms).unwrap()
}

fn now() -> Timestamp {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    Timestamp::from_millisecond(since.as_millis() as i64).unwrap()
}

fn query(client: &PrometheusClient, expr: &str) -> Result<QueryAnswer, PrometheusError> {
    client.query(expr, now(), &ten_seconds())
}

fn single_value(client: &PrometheusClient, expr: &str) -> f64 {
    query(client, expr)
        .unwrap()
        .result
        .into_single_value()
        .unwrap()
}

/// A server with one gauge `up{job="demo"} 1`, a client-independent check that something answers.
fn server_with_up(server: &Prometheus) -> Timeline {
    let timeline = Timeline::ending_now(Duration::from_secs(120));
    server
        .push(&[Series::new("up", &[("job", "demo")])
            .with_samples(Profile::Constant(1.0).gauge(&timeline))])
        .unwrap();
    timeline
}

// ---- values ----

#[test]
fn vector_query_returns_each_series_with_its_labels_and_value() {
    let server = Prometheus::start().unwrap();
    let timeline = Timeline::ending_now(Duration::from_secs(300));
    let series: Vec<Series> = [("node-a", 0.25), ("node-b", 0.75)]
        .iter()
        .map(|(node, value)| {
            Series::new("node_load", &[("node", node)])
                .with_samples(Profile::Constant(*value).gauge(&timeline))
        })
        .collect();
    server.push(&series).unwrap();

    let answer = client(&server.url())
        .query("node_load", at(&timeline), &ten_seconds())
        .unwrap();

    let mut samples = answer.result.into_vector().unwrap();
    samples.sort_by(|a, b| a.label("node").cmp(&b.label("node")));
    assert_eq!(samples.len(), 2);
    assert_eq!(
        (samples[0].label("node"), samples[0].value),
        (Some("node-a"), 0.25)
    );
    assert_eq!(
        (samples[1].label("node"), samples[1].value),
        (Some("node-b"), 0.75)
    );
    assert_eq!(samples[0].label("__name__"), Some("node_load"));
    assert!(answer.warnings.is_empty());
}

#[test]
fn nan_and_infinities_come_back_as_floats() {
    let server = Prometheus::start().unwrap();
    let client = client(&server.url());

    assert!(single_value(&client, "0/0").is_nan());
    assert_eq!(single_value(&client, "1/0"), f64::INFINITY);
    assert_eq!(single_value(&client, "-1/0"), f64::NEG_INFINITY);
    assert_eq!(
        single_value(&client, "vector(1.2345678e-67)"),
        1.2345678e-67
    );
    assert_eq!(
        query(&client, "42").unwrap().result,
        QueryResult::Scalar(42.0)
    );
    assert_eq!(
        query(&client, r#""text""#).unwrap().result,
        QueryResult::String("text".into())
    );
}

#[test]
fn empty_result_is_an_empty_vector_not_an_error() {
    let server = Prometheus::start().unwrap();
    let answer = query(&client(&server.url()), "metric_nobody_pushed").unwrap();
    assert_eq!(answer.result.into_vector().unwrap(), vec![]);
}

#[test]
fn range_query_answers_a_point_every_step_ending_at_the_end_time() {
    let server = Prometheus::start().unwrap();
    let timeline = server_with_up(&server);
    let end = at(&timeline);
    let answer = client(&server.url())
        .query_range(
            "up * 2",
            end - Duration::from_secs(60),
            end,
            Duration::from_secs(30),
            &ten_seconds(),
        )
        .unwrap();
    let series = answer.result.into_matrix().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(
        series[0].labels.get("job").map(String::as_str),
        Some("demo")
    );
    let end_secs = timeline.end_ms as f64 / 1000.0;
    let expected: Vec<(f64, f64)> = [60.0, 30.0, 0.0]
        .into_iter()
        .map(|ago| (end_secs - ago, 2.0))
        .collect();
    assert_eq!(series[0].points, expected);
}

/// Each series' `job` and number of points, in answer order.
type JobsAndPoints = Vec<(Option<String>, usize)>;

/// `query_range_fold` over the last minute of `up`-like series, and the series count the client reports.
fn fold_range(
    client: &PrometheusClient,
    expr: &str,
    timeline: &Timeline,
) -> Result<(JobsAndPoints, usize), PrometheusError> {
    #[derive(Debug, Default, serde::Deserialize)]
    struct JobOnly {
        job: Option<String>,
    }
    let end = at(timeline);
    let span = RangeSpan {
        start: end - Duration::from_secs(60),
        end,
        step: Duration::from_secs(30),
    };
    let (seen, answer) = client.query_range_fold(
        expr,
        span,
        &ten_seconds(),
        Vec::new,
        |seen: &mut JobsAndPoints, labels: JobOnly, points| seen.push((labels.job, points.len())),
    )?;
    Ok((seen, answer.series))
}

/// A server with `up{job="a"}`, `b` and `c` at 1 over the last two minutes.
fn server_with_three_jobs(server: &Prometheus) -> Timeline {
    let timeline = Timeline::ending_now(Duration::from_secs(120));
    let series: Vec<Series> = ["a", "b", "c"]
        .iter()
        .map(|job| {
            Series::new("up", &[("job", job)]).with_samples(Profile::Constant(1.0).gauge(&timeline))
        })
        .collect();
    server.push(&series).unwrap();
    timeline
}

#[test]
fn folded_range_answer_gives_each_series_its_labels_and_points_as_the_whole_answer_does() {
    let server = Prometheus::start().unwrap();
    let timeline = server_with_three_jobs(&server);
    let client = client(&server.url());
    let end = at(&timeline);
    let whole = client
        .query_range(
            "up",
            end - Duration::from_secs(60),
            end,
            Duration::from_secs(30),
            &ten_seconds(),
        )
        .unwrap()
        .result
        .into_matrix()
        .unwrap();

    let (seen, count) = fold_range(&client, "up", &timeline).unwrap();

    assert_eq!(count, 3);
    let expected: Vec<(Option<String>, usize)> = whole
        .iter()
        .map(|s| (s.labels.get("job").cloned(), s.points.len()))
        .collect();
    assert_eq!(seen, expected);
    assert!(seen.iter().all(|(_, points)| *points == 3), "{seen:?}");
}

#[test]
fn folded_range_answer_cut_mid_way_is_retried_from_scratch() {
    let server = Prometheus::start().unwrap();
    let timeline = server_with_three_jobs(&server);
    let end = at(&timeline);
    let span = RangeSpan {
        start: end - Duration::from_secs(60),
        end,
        step: Duration::from_secs(30),
    };
    let fold = |client: &PrometheusClient, handed: &mut usize| {
        client
            .query_range_fold(
                "up",
                span,
                &ten_seconds(),
                Vec::new,
                |jobs: &mut Vec<String>, labels: BTreeMap<String, String>, _| {
                    *handed += 1;
                    jobs.push(labels["job"].clone());
                },
            )
            .unwrap()
            .0
    };
    // The whole answer's length, fetched without the client under test, then a cut in its middle: after the
    // first of its three series, before the last.
    let seconds = |at: Timestamp| at.as_second().to_string();
    let whole = ureq::post(format!("{}/api/v1/query_range", server.url()))
        .send_form([
            ("query", "up"),
            ("start", &seconds(span.start)),
            ("end", &seconds(span.end)),
            ("step", "30"),
        ])
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert_eq!(whole.matches("\"job\"").count(), 3, "{whole}");
    let proxy = FaultProxy::start(&server).unwrap();
    proxy.fail_next(Fault::CutAfter(whole.len() / 2));
    let client = client_with(&proxy.url(), |c| c.retries = 1);
    let mut handed = 0;

    let jobs = fold(&client, &mut handed);

    assert_eq!(proxy.query_count(), 2, "the cut answer was retried");
    assert!(
        handed > 3,
        "the cut answer handed over a series before it broke: {handed}"
    );
    assert_eq!(
        jobs,
        ["a", "b", "c"],
        "each series once: nothing of the cut answer kept"
    );
}

#[test]
fn folded_range_answer_that_is_not_prometheus_or_too_large_says_so() {
    let server = Prometheus::start().unwrap();
    let timeline = server_with_up(&server);
    let proxy = FaultProxy::start(&server).unwrap();
    proxy.fail_next(Fault::Garbage);
    let client = client_with(&proxy.url(), |c| {
        c.retries = 2;
        c.max_response_bytes = 1024 * 1024
    });

    let error = format!("{:#}", fold_range(&client, "up", &timeline).unwrap_err());
    assert!(
        error.contains("HTTP 200: answer is not a Prometheus API response"),
        "{error}"
    );
    assert!(
        error.contains("<html><body><h1>Sign in"),
        "the body's start is shown: {error}"
    );
    assert_eq!(proxy.query_count(), 1, "not retried");

    // A streamed answer may be 4 times the limit of one held whole.
    proxy.fail_next(Fault::HugeBody(8 * 1024 * 1024));
    let error = format!("{:#}", fold_range(&client, "up", &timeline).unwrap_err());
    assert!(
        error.contains("larger than the 4194304 byte limit"),
        "{error}"
    );
    assert_eq!(proxy.query_count(), 2, "not retried");

    proxy.fail_next(Fault::Status(503));
    let error = format!("{:#}", fold_range(&client, "up[1m", &timeline).unwrap_err());
    assert!(
        error.contains("errorType bad_data"),
        "a bad query after a retried 503: {error}"
    );
    assert_eq!(proxy.query_count(), 4);
}

#[test]
fn vector_answers_decode_only_the_labels_asked_for() {
    #[derive(Debug, Default, serde::Deserialize)]
    struct JobOnly {
        job: Option<String>,
    }
    let server = Prometheus::start().unwrap();
    let timeline = server_with_up(&server);
    let answer = client(&server.url())
        .query("up", at(&timeline), &ten_seconds())
        .unwrap();
    let mut seen = Vec::new();
    let count = answer
        .result
        .vector()
        .unwrap()
        .for_each(|labels: JobOnly, value| seen.push((labels.job, value)))
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(seen, [(Some("demo".to_string()), 1.0)]);
}

#[test]
fn range_selector_answers_decode_as_a_matrix() {
    let server = Prometheus::start().unwrap();
    let timeline = server_with_up(&server);
    let answer = client(&server.url())
        .query("up[1m]", at(&timeline), &ten_seconds())
        .unwrap();
    let QueryResult::Matrix(series) = answer.result else {
        panic!("expected a matrix")
    };
    assert_eq!(series.len(), 1);
    assert!(
        series[0].points.len() >= 4,
        "15 s samples over a minute: {:?}",
        series[0].points
    );
}

// ---- errors ----

/// The server's own error text for `expr`, fetched without the client under test.
fn server_error_text(server: &Prometheus, expr: &str) -> String {
    let mut response = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(format!("{}/api/v1/query", server.url()))
        .send_form([("query", expr)])
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    body["error"].as_str().unwrap().to_owned()
}

#[test]
fn bad_promql_is_reported_verbatim_with_url_and_query_and_not_retried() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    let client = client(&proxy.url());

    let error = format!("{:#}", query(&client, "sum(rate(x[5m])").unwrap_err());

    assert!(error.contains("HTTP 400, errorType bad_data"), "{error}");
    assert!(
        error.contains(&server_error_text(&server, "sum(rate(x[5m])")),
        "{error}"
    );
    assert!(
        error.contains(&format!("{}/api/v1/query", proxy.url())),
        "{error}"
    );
    assert!(error.contains("query: sum(rate(x[5m])"), "{error}");
    assert_eq!(
        proxy.query_count(),
        1,
        "a bad query fails the same way every time"
    );
}

#[test]
fn unprocessable_query_is_not_retried() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    proxy.fail_next(Fault::Status(422));
    let client = client(&proxy.url());

    let error = format!("{:#}", query(&client, "up").unwrap_err());

    assert!(error.contains("HTTP 422, errorType execution"), "{error}");
    assert_eq!(proxy.query_count(), 1);
}

#[test]
fn server_errors_are_retried_then_the_real_answer_is_used() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    proxy.fail_next(Fault::Status(503));
    proxy.fail_next(Fault::Status(429));
    let client = client_with(&proxy.url(), |c| c.retries = 2);

    assert_eq!(single_value(&client, "vector(7)"), 7.0);

    assert_eq!(proxy.query_count(), 3);
    let stats = client.stats();
    assert_eq!(
        (
            stats.queries,
            stats.attempts,
            stats.retries,
            stats.failed_queries
        ),
        (1, 3, 2, 0)
    );
}

#[test]
fn a_throttling_server_is_retried_no_sooner_than_its_retry_after() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    proxy.fail_next(Fault::Throttle(1));
    let client = client_with(&proxy.url(), |c| c.retries = 1);

    let started = Instant::now();
    assert_eq!(single_value(&client, "vector(7)"), 7.0);

    // Our own back-off would have retried after 0.2 s.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(proxy.query_count(), 2);
}

#[test]
fn a_retry_after_beyond_the_deadline_fails_at_once_saying_so() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    proxy.fail_next(Fault::Throttle(60));
    let client = client_with(&proxy.url(), |c| c.retries = 3);

    let started = Instant::now();
    let error = format!("{:#}", query(&client, "up").unwrap_err());

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(error.contains("Retry-After: 60"), "{error}");
    assert!(
        error.contains("no time left before the tick's deadline for another attempt 60s from now"),
        "{error}"
    );
    assert_eq!(proxy.query_count(), 1);
}

#[test]
fn retries_are_bounded_and_the_last_error_is_shown() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    proxy.fail_all(Fault::Status(500));
    let client = client_with(&proxy.url(), |c| c.retries = 2);

    let error = format!("{:#}", query(&client, "up").unwrap_err());

    assert!(error.contains("gave up after 3 attempts"), "{error}");
    assert!(
        error.contains("HTTP 500, errorType internal: fault injected"),
        "{error}"
    );
    assert_eq!(proxy.query_count(), 3);
    assert_eq!(client.stats().failed_queries, 1);
}

#[test]
fn dropped_connection_is_retried() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    proxy.fail_next(Fault::Drop);
    let client = client_with(&proxy.url(), |c| c.retries = 1);

    assert_eq!(single_value(&client, "vector(1)"), 1.0);
    assert_eq!(proxy.query_count(), 2);
}

#[test]
fn refused_connection_is_a_connection_error_naming_the_url() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    proxy.refuse_connections();
    let client = client_with(&proxy.url(), |c| c.retries = 1);

    let error = format!("{:#}", query(&client, "up").unwrap_err());

    assert!(error.contains("connection failed"), "{error}");
    assert!(error.contains(&proxy.url()), "{error}");

    proxy.heal();
    assert_eq!(
        single_value(&client, "vector(1)"),
        1.0,
        "works again once the server is back"
    );
}

#[test]
fn hung_server_fails_within_the_deadline() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    proxy.fail_all(Fault::Hang);
    let client = client_with(&proxy.url(), |c| {
        c.query_timeout = Duration::from_secs(30);
        c.retries = 5;
    });
    let started = Instant::now();

    let error = client
        .query("up", now(), &Deadline::after(Duration::from_millis(800)))
        .unwrap_err();

    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1_300), "took {elapsed:?}");
    let error = format!("{error:#}");
    assert!(error.contains("no answer within"), "{error}");
    assert!(error.contains("deadline"), "{error}");
}

#[test]
fn slow_answer_within_the_timeout_is_awaited() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    proxy.fail_next(Fault::Latency(Duration::from_millis(300)));
    assert_eq!(single_value(&client(&proxy.url()), "vector(3)"), 3.0);
}

#[test]
fn server_side_timeout_and_time_are_sent_bounded_by_the_deadline() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    let client = client_with(&proxy.url(), |c| c.query_timeout = Duration::from_secs(60));
    let at = Timestamp::from_millisecond(1_700_000_000_250).unwrap();

    client
        .query("vector(1)", at, &Deadline::after(Duration::from_secs(4)))
        .unwrap();

    let request = &proxy.requests_to("/api/v1/query")[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.form_field("time").as_deref(),
        Some("1700000000.250")
    );
    let timeout: f64 = request.form_field("timeout").unwrap().parse().unwrap();
    assert!(timeout > 0.0 && timeout <= 4.0, "timeout={timeout}");
}

#[test]
fn non_json_answer_is_a_clear_error() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    proxy.fail_next(Fault::Garbage);

    let error = format!("{:#}", query(&client(&proxy.url()), "up").unwrap_err());

    assert!(
        error.contains("HTTP 200: answer is not a Prometheus API response"),
        "{error}"
    );
    assert!(error.contains("<html>"), "the body is shown: {error}");
    assert_eq!(proxy.query_count(), 1);
}

#[test]
fn oversized_answer_stops_at_the_body_limit() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    proxy.fail_next(Fault::HugeBody(8 * 1024 * 1024));
    let client = client_with(&proxy.url(), |c| c.max_response_bytes = 1024 * 1024);

    let error = format!("{:#}", query(&client, "up").unwrap_err());

    assert!(
        error.contains("larger than the 1048576 byte limit"),
        "{error}"
    );
}

// ---- auth, headers, routing ----

#[test]
fn bearer_token_file_is_reread_for_every_query() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "first-token\n").unwrap();
    let client = client_with(&proxy.url(), |c| {
        c.bearer_token_file = Some(token_file.clone())
    });

    query(&client, "vector(1)").unwrap();
    std::fs::write(&token_file, "rotated-token").unwrap();
    query(&client, "vector(1)").unwrap();

    let sent: Vec<String> = proxy
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap_or("").to_owned())
        .collect();
    assert_eq!(sent, ["Bearer first-token", "Bearer rotated-token"]);
}

#[test]
fn missing_token_file_is_named_and_nothing_is_sent() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    let client = client_with(&proxy.url(), |c| {
        c.bearer_token_file = Some("/nonexistent/token".into())
    });

    let error = format!("{:#}", query(&client, "up").unwrap_err());

    assert!(
        error.contains("bearer token file /nonexistent/token"),
        "{error}"
    );
    assert_eq!(proxy.query_count(), 0);
}

#[test]
fn tenant_header_and_user_agent_are_sent() {
    let server = Prometheus::start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    let client = client_with(&proxy.url(), |c| {
        c.headers = vec![("X-Scope-OrgID".into(), "team-a".into())]
    });

    query(&client, "vector(1)").unwrap();

    let request = &proxy.requests()[0];
    assert_eq!(request.header("x-scope-orgid"), Some("team-a"));
    assert_eq!(
        request.header("user-agent"),
        Some(concat!("kube-thermostat/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

#[test]
fn basic_auth_is_accepted_by_prometheus_web_config() {
    let server = Prometheus::builder().basic_auth().start().unwrap();
    let client = client_with(&server.url(), |c| {
        c.basic_auth = Some((BASIC_AUTH_USER.into(), BASIC_AUTH_PASSWORD.into()));
    });
    assert_eq!(single_value(&client, "vector(5)"), 5.0);
}

#[test]
fn wrong_basic_auth_is_refused_without_showing_the_password() {
    let server = Prometheus::builder().basic_auth().start().unwrap();
    let client = client_with(&server.url(), |c| {
        c.basic_auth = Some((BASIC_AUTH_USER.into(), "wrong-password-42".into()));
        c.retries = 3;
    });

    let error = format!("{:#}", query(&client, "up").unwrap_err());

    assert!(error.contains("HTTP 401"), "{error}");
    assert!(!error.contains("wrong-password-42"), "{error}");
    assert_eq!(client.stats().attempts, 1, "401 is not retried");
}

#[test]
fn path_prefix_is_kept_in_every_request() {
    let server = Prometheus::builder().route_prefix("/prom").start().unwrap();
    assert!(server.url().ends_with("/prom"));

    assert_eq!(
        single_value(&client(&format!("{}/", server.url())), "vector(2)"),
        2.0
    );

    let without_prefix = format!("http://{}", server.addr());
    let error = format!(
        "{:#}",
        query(&client(&without_prefix), "vector(2)").unwrap_err()
    );
    assert!(error.contains("HTTP 404"), "{error}");
}

/// `up{job="demo"}` every 15 s over the last five minutes, and a range query of it over that span: 21 points.
fn five_minutes_of_up(server: &Prometheus) -> RangeSpan {
    let timeline = Timeline::ending_now(Duration::from_secs(300));
    server
        .push(&[Series::new("up", &[("job", "demo")])
            .with_samples(Profile::Constant(1.0).gauge(&timeline))])
        .unwrap();
    let end = at(&timeline);
    RangeSpan {
        start: end - Duration::from_secs(300),
        end,
        step: Duration::from_secs(15),
    }
}

#[test]
fn a_query_over_max_samples_is_too_many_samples_and_is_not_retried() {
    let server = Prometheus::builder().query_max_samples(10).start().unwrap();
    let span = five_minutes_of_up(&server);
    let proxy = FaultProxy::start(&server).unwrap();
    let client = client_with(&proxy.url(), |c| c.retries = 2);

    let whole = client
        .query_range("up", span.start, span.end, span.step, &ten_seconds())
        .unwrap_err();
    let folded = client
        .query_range_fold(
            "up",
            span,
            &ten_seconds(),
            || (),
            |_, _: BTreeMap<String, String>, _| {},
        )
        .unwrap_err();

    for error in [&whole, &folded] {
        assert!(error.is_too_many_samples(), "{error:#}");
        assert!(!error.is_answer_too_large(), "{error:#}");
        let line = format!("{error:#}");
        assert!(
            line.contains(
                "HTTP 422, errorType execution: query processing would load too many samples into memory"
            ),
            "{line}"
        );
    }
    assert_eq!(
        proxy.query_count(),
        2,
        "the same query is refused every time"
    );

    // Fewer points at once pass: what a caller does about it.
    let coarser = client
        .query_range(
            "up",
            span.start,
            span.end,
            Duration::from_secs(60),
            &ten_seconds(),
        )
        .unwrap();
    assert_eq!(coarser.result.into_matrix().unwrap()[0].points.len(), 6);
}

#[test]
fn other_refusals_are_not_too_many_samples() {
    let server = Prometheus::builder().query_max_samples(10).start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    proxy.fail_next(Fault::Status(422));
    let client = client(&proxy.url());

    let refused = query(&client, "vector(1)").unwrap_err();
    let bad_promql = query(&client, "sum(").unwrap_err();

    assert!(!refused.is_too_many_samples(), "{refused:#}");
    assert!(!bad_promql.is_too_many_samples(), "{bad_promql:#}");
}

// ---- storage retention ----

fn retention(client: &PrometheusClient) -> Result<Option<Retention>, PrometheusError> {
    client.retention(&ten_seconds())
}

#[test]
fn retention_is_what_the_server_was_started_with() {
    const DAY: u64 = 86_400;
    for (builder, time, text) in [
        (Prometheus::builder(), Some(15 * DAY), "15d"),
        (
            Prometheus::builder().retention_time("1d12h"),
            Some(36 * 3600),
            "1d12h",
        ),
        (Prometheus::builder().retention_size("10GB"), None, "10GiB"),
        (
            Prometheus::builder()
                .retention_time("90d")
                .retention_size("512MB"),
            Some(90 * DAY),
            "90d or 512MiB",
        ),
    ] {
        let server = builder.clone().start().unwrap();
        let client = client(&server.url());

        let retention = retention(&client).unwrap();

        assert_eq!(
            retention,
            Some(Retention {
                time: time.map(Duration::from_secs),
                text: text.to_owned()
            }),
            "started with {builder:?}"
        );
        let stats = client.stats();
        assert_eq!(
            (stats.status_requests, stats.queries, stats.attempts),
            (1, 0, 1)
        );
    }
}

#[test]
fn retention_is_read_with_the_prefix_and_credentials_and_a_wrong_prefix_gives_none() {
    let server = Prometheus::builder()
        .route_prefix("/prom")
        .basic_auth()
        .retention_time("7d")
        .start()
        .unwrap();
    let with_auth = |url: &str| {
        client_with(url, |c| {
            c.basic_auth = Some((BASIC_AUTH_USER.into(), BASIC_AUTH_PASSWORD.into()));
        })
    };

    assert_eq!(
        retention(&with_auth(&server.url()))
            .unwrap()
            .and_then(|r| r.time),
        Some(Duration::from_secs(7 * 86_400))
    );
    // Prometheus answers a path outside its route prefix 404 (text, not JSON): no endpoint there, nothing to check.
    assert_eq!(
        retention(&with_auth(&format!("http://{}", server.addr()))).unwrap(),
        None
    );
    let error = retention(&client(&server.url())).unwrap_err();
    assert!(
        format!("{error:#}").contains(&format!(
            "Prometheus request to {}/api/v1/status/runtimeinfo failed: HTTP 401",
            server.url()
        )),
        "{error:#}"
    );
}

#[test]
fn retention_is_asked_by_get_retried_as_a_query_and_none_where_the_endpoint_is_missing() {
    let server = Prometheus::builder().retention_time("2w").start().unwrap();
    let proxy = FaultProxy::start(&server).unwrap();
    let client = client_with(&proxy.url(), |c| {
        c.retries = 1;
        c.headers = vec![("X-Scope-OrgID".into(), "tenant-a".into())];
    });

    proxy.fail_next(Fault::Status(503));
    assert_eq!(
        retention(&client).unwrap().and_then(|r| r.time),
        Some(Duration::from_secs(14 * 86_400))
    );
    let requests = proxy.requests_to("/api/v1/status/runtimeinfo");
    assert_eq!(requests.len(), 2, "the 503 is retried");
    assert!(
        requests
            .iter()
            .all(|r| r.method == "GET" && r.header("X-Scope-OrgID") == Some("tenant-a")),
        "{requests:?}"
    );

    // A frontend without the endpoint (a Prometheus-style 404 here; Thanos and Mimir answer text).
    proxy.fail_next(Fault::Status(404));
    assert_eq!(retention(&client).unwrap(), None);
    assert_eq!(
        proxy.requests_to("/api/v1/status/runtimeinfo").len(),
        3,
        "a 404 is final"
    );

    proxy.fail_next(Fault::Garbage);
    let error = retention(&client).unwrap_err();
    assert!(
        format!("{error:#}").contains("not a Prometheus API response"),
        "{error:#}"
    );
    assert_eq!(proxy.query_count(), 0);
    assert_eq!(client.stats().queries, 0);
}

// ---- TLS ----

#[test]
fn tls_with_the_custom_ca_is_trusted() {
    let server = Prometheus::builder().tls().start().unwrap();
    let tls = server.tls().unwrap();
    let client = client_with(&server.url(), |c| c.ca_file = Some(tls.ca_file.clone()));
    assert!(server.url().starts_with("https://"));
    assert_eq!(single_value(&client, "vector(9)"), 9.0);
}

#[test]
fn tls_with_another_ca_is_refused_and_never_falls_back() {
    let server = Prometheus::builder().tls().start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let other_ca = dir.path().join("other-ca.crt");
    std::fs::write(
        &other_ca,
        CertificateAuthority::new("someone else")
            .unwrap()
            .cert_pem(),
    )
    .unwrap();
    let client = client_with(&server.url(), |c| {
        c.ca_file = Some(other_ca);
        c.retries = 3;
    });

    let error = format!("{:#}", query(&client, "vector(9)").unwrap_err());

    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert_eq!(
        client.stats().attempts,
        1,
        "a certificate problem is not retried"
    );
}

#[test]
fn tls_without_any_ca_setting_does_not_trust_a_private_ca() {
    let server = Prometheus::builder().tls().start().unwrap();
    assert!(query(&client(&server.url()), "vector(1)").is_err());
}

#[test]
fn insecure_skip_verify_accepts_an_unknown_certificate_when_asked() {
    let server = Prometheus::builder().tls().start().unwrap();
    let client = client_with(&server.url(), |c| c.insecure_skip_verify = true);
    assert_eq!(single_value(&client, "vector(1)"), 1.0);
}

#[test]
fn client_certificate_is_presented_for_mutual_tls() {
    let server = Prometheus::builder().require_client_cert().start().unwrap();
    let tls = server.tls().unwrap();
    let with_cert = client_with(&server.url(), |c| {
        c.ca_file = Some(tls.ca_file.clone());
        c.client_cert_file = Some(tls.client_cert_file.clone());
        c.client_key_file = Some(tls.client_key_file.clone());
    });
    let without_cert = client_with(&server.url(), |c| c.ca_file = Some(tls.ca_file.clone()));

    assert_eq!(single_value(&with_cert, "vector(4)"), 4.0);
    // TLS 1.3 finishes the client's side of the handshake before the server checks for a certificate, so the
    // refusal shows up as a broken connection rather than a certificate error.
    assert!(query(&without_cert, "vector(4)").is_err());
}

#[test]
fn unreadable_ca_file_is_named_at_construction() {
    let mut config = PrometheusConfig::new("https://127.0.0.1:1");
    config.ca_file = Some("/nonexistent/ca.crt".into());
    let error = format!("{:#}", PrometheusClient::new(config).unwrap_err());
    assert!(error.contains("CA file /nonexistent/ca.crt"), "{error}");
}

// ---- escaping, through the real PromQL parser ----

#[test]
fn escaped_label_values_select_exactly_their_series() {
    let server = Prometheus::start().unwrap();
    let timeline = Timeline::ending_now(Duration::from_secs(120));
    let values = [
        r#"with "quotes""#,
        r"back\slash",
        r"trailing\",
        "two\nlines",
        "tab\tand\rreturn",
        "ünïcødé-节点-🚀",
        r#"\"mixed\\"#,
        "node-1",
        "node-10",
        ".*",
    ];
    let series: Vec<Series> = values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            Series::new("escape_probe", &[("v", value)])
                .with_samples(Profile::Constant(i as f64).gauge(&timeline))
        })
        .collect();
    server.push(&series).unwrap();
    let client = client(&server.url());

    for (i, value) in values.iter().enumerate() {
        let expr = format!(r#"escape_probe{{v="{}"}}"#, escape_label_value(value));
        let samples = client
            .query(&expr, at(&timeline), &ten_seconds())
            .unwrap()
            .result
            .into_vector()
            .unwrap();
        assert_eq!(samples.len(), 1, "{expr} matched {samples:?}");
        assert_eq!(samples[0].label("v"), Some(*value));
        assert_eq!(samples[0].value, i as f64);
    }
}

// ---- the rig's history is what the tests intend ----

#[test]
fn pushed_history_rates_to_the_intended_node_busy_fraction_and_container_usage() {
    let started = Instant::now();
    let server = Prometheus::start().unwrap();
    let timeline = Timeline::last_40_minutes();
    let mut series = Vec::new();
    for (node, busy) in [("node-a", 0.2), ("node-b", 0.9)] {
        series.extend(
            NodeHistory::new(node, Profile::Constant(busy))
                .with_memory_used(Profile::Constant(0.3))
                .series(&timeline),
        );
    }
    let pod = PodHistory::new(
        "shop",
        "web-0",
        "node-a",
        vec![
            ContainerLoad::new("app", Profile::Constant(1.5), Profile::Constant(300e6)),
            ContainerLoad::new("sidecar", Profile::Constant(0.1), Profile::Constant(20e6)),
        ],
    )
    .scraped_by(2);
    series.extend(pod.series(&timeline));
    server.push(&series).unwrap();
    eprintln!(
        "start + push of {} series: {:?}",
        series.len(),
        started.elapsed()
    );
    let client = client(&server.url());
    let deadline = ten_seconds();

    let busy = client
        .query(
            r#"1 - avg by (node) (sum by (node, cpu) (rate(node_cpu_seconds_total{mode=~"idle|iowait|steal"}[5m])))"#,
            at(&timeline),
            &deadline,
        )
        .unwrap()
        .result
        .into_vector()
        .unwrap();
    for sample in &busy {
        let intended = if sample.label("node") == Some("node-a") {
            0.2
        } else {
            0.9
        };
        assert!((sample.value - intended).abs() < 1e-9, "{sample:?}");
    }
    assert_eq!(busy.len(), 2);

    let memory = client
        .query(
            "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
            at(&timeline),
            &deadline,
        )
        .unwrap()
        .result
        .into_vector()
        .unwrap();
    assert!(!memory.is_empty(), "a memory sample per node");
    assert!(
        memory.iter().all(|s| (s.value - 0.3).abs() < 1e-9),
        "{memory:?}"
    );

    // Excluding the pod cgroup and the pause container, deduplicating the two scrapers.
    let cores = client
        .query(
            r#"max by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{container!="", container!="POD"}[5m]))"#,
            at(&timeline),
            &deadline,
        )
        .unwrap()
        .result
        .into_vector()
        .unwrap();
    let mut cores: Vec<(String, f64)> = cores
        .iter()
        .map(|s| (s.label("container").unwrap_or("").to_owned(), s.value))
        .collect();
    cores.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(cores.len(), 2, "{cores:?}");
    assert!(
        (cores[0].1 - 1.5).abs() < 1e-9 && cores[0].0 == "app",
        "{cores:?}"
    );
    assert!(
        (cores[1].1 - 0.1).abs() < 1e-9 && cores[1].0 == "sidecar",
        "{cores:?}"
    );

    let duplicates = single_value(
        &client,
        &format!(
            "count(container_memory_working_set_bytes{{container=\"app\"}} @ {})",
            timeline.end_seconds()
        ),
    );
    assert_eq!(duplicates, 2.0, "two scrapers report the same container");
}

#[test]
fn flapping_load_shows_in_a_short_window_but_averages_out_in_a_long_one() {
    let server = Prometheus::start().unwrap();
    let timeline = Timeline::last_40_minutes();
    let profile = Profile::Flapping {
        low: 0.1,
        high: 0.9,
        period: Duration::from_secs(20 * 60),
    };
    server
        .push(&NodeHistory::new("node-f", profile).series(&timeline))
        .unwrap();
    let client = client(&server.url());
    let busy = |window: &str| {
        client
            .query(
                &format!(r#"1 - avg(rate(node_cpu_seconds_total{{mode="idle"}}[{window}]))"#),
                at(&timeline),
                &ten_seconds(),
            )
            .unwrap()
            .result
            .into_single_value()
            .unwrap()
    };
    assert!(
        (busy("5m") - 0.9).abs() < 1e-9,
        "latest half-period is high"
    );
    assert!(
        (busy("20m") - 0.5).abs() < 0.02,
        "one full period averages out: {}",
        busy("20m")
    );
}
