//! Outbound safety through real probes: nothing private is reached.

use std::{net::IpAddr, time::Duration};

use platform::outbound::TargetPolicy;
use uptime::{
    checks::{CheckMonitor, job::Recorded},
    model::{CheckTrigger, HttpMethod},
    probe::Prober,
};

use crate::helpers::{TestEnv, TestTarget, spawn_worker};

fn strict() -> TargetPolicy {
    TargetPolicy::default()
}

#[tokio::test]
async fn every_class_of_forbidden_target_is_refused_before_connecting() {
    let target = TestTarget::start().await;
    let port = target.addr.port();
    let prober = Prober::new(strict(), 5).expect("prober");
    let urls = [
        format!("http://127.0.0.1:{port}/ok"),
        format!("http://localhost:{port}/ok"),
        format!("http://[::1]:{port}/ok"),
        "http://10.0.0.1/".to_owned(),
        "http://172.16.0.1/".to_owned(),
        "http://192.168.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://100.64.0.1/".to_owned(),
        "http://[fdaa::3]:8080/".to_owned(),
        "http://[fe80::1]/".to_owned(),
        "http://[::ffff:10.0.0.1]/".to_owned(),
        "http://0.0.0.0/".to_owned(),
        // IPv6 forms that embed, translate or tunnel IPv4, and site-local.
        format!("http://[::127.0.0.1]:{port}/ok"),
        format!("http://[::ffff:127.0.0.1]:{port}/ok"),
        format!("http://[::ffff:0:127.0.0.1]:{port}/ok"),
        format!("http://[64:ff9b::127.0.0.1]:{port}/ok"),
        format!("http://[2002:7f00:1::1]:{port}/ok"),
        format!("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{port}/ok"),
        format!("http://[fec0::1]:{port}/ok"),
    ];
    for url in &urls {
        let result = prober
            .probe(HttpMethod::Get, url, 200, Duration::from_secs(2))
            .await;
        let error = result.error.unwrap_or_default();
        assert!(error.starts_with("refused:"), "{url}: {error}");
        assert_eq!(result.status_code, None);
    }
    // A name's refusal names the rule, never the address it resolved to, so
    // probes cannot map private names (`.internal`, `.flycast`).
    let by_name = prober
        .probe(HttpMethod::Get, &urls[1], 200, Duration::from_secs(2))
        .await;
    assert_eq!(
        by_name.error.as_deref(),
        Some("refused: localhost resolves to a loopback address")
    );
    assert_eq!(
        target.hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no request reached the target"
    );
}

#[tokio::test]
async fn a_redirect_to_a_forbidden_address_is_refused() {
    // The first hop is allowed by an exact exception; the rules apply to
    // where it redirects, by IP literal and by name.
    let entry = TestTarget::start_on("127.0.0.2").await;
    let inner = TestTarget::start().await;
    let policy = TargetPolicy {
        allow_private: false,
        exceptions: vec!["127.0.0.2".parse::<IpAddr>().expect("ip")],
    };
    let prober = Prober::new(policy, 5).expect("prober");
    assert_eq!(
        prober
            .probe(
                HttpMethod::Get,
                &entry.url("/ok"),
                200,
                Duration::from_secs(2)
            )
            .await
            .status_code,
        Some(200),
        "the exception itself works"
    );
    for to in [
        format!("http://127.0.0.1:{}/ok", inner.addr.port()),
        format!("http://localhost:{}/ok", inner.addr.port()),
        format!("http://[::127.0.0.1]:{}/ok", inner.addr.port()),
    ] {
        let url = entry.url(&format!("/redirect?to={to}"));
        let result = prober
            .probe(HttpMethod::Get, &url, 200, Duration::from_secs(2))
            .await;
        let error = result.error.unwrap_or_default();
        assert!(
            error.starts_with("refused:")
                && (error.contains("loopback") || error.contains("IPv4-compatible")),
            "{to}: {error}"
        );
    }
    assert_eq!(inner.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit() {
    let target = TestTarget::start().await;
    let prober = Prober::new(crate::helpers::allow_all(), 2).expect("prober");
    let once = target.url(&format!("/redirect?to={}", target.url("/ok")));
    assert_eq!(
        prober
            .probe(HttpMethod::Get, &once, 200, Duration::from_secs(2))
            .await
            .status_code,
        Some(200)
    );
    let looping = target.url("/redirect?to=/redirect?to=/redirect?to=/ok");
    let result = prober
        .probe(HttpMethod::Get, &looping, 200, Duration::from_secs(2))
        .await;
    assert_eq!(result.error.as_deref(), Some("more than 2 redirects"));
    // A monitor that expects the redirect itself gets it.
    let result = prober
        .probe(HttpMethod::Get, &once, 302, Duration::from_secs(2))
        .await;
    assert_eq!(result.status_code, Some(302));
}

#[tokio::test]
async fn a_refused_check_is_recorded_as_failed_with_the_reason() {
    let env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let (_, monitor_id) = env.monitor(&target.url("/ok"), false).await;

    let checks = env.checks(strict()).await;
    let job = CheckMonitor::new(monitor_id, CheckTrigger::Manual);
    let Recorded::New(event, _) = checks.check(&job).await.expect("check") else {
        panic!("expected a new check");
    };
    assert!(!event.ok);
    let error = event.error.unwrap_or_default();
    assert_eq!(error, "refused: 127.0.0.1 is a loopback address");

    // The same through a worker configured the production way.
    let worker = spawn_worker(env.worker_env(&[("ALLOW_PRIVATE_TARGETS", "false")])).await;
    let ids = env.queue_checks(monitor_id, 1).await;
    let mut expected = vec![job.check_id, ids[0]];
    expected.sort();
    env.wait_for_checks(monitor_id, &expected, Duration::from_secs(15))
        .await;
    assert_eq!(target.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    worker.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_check_timeout_is_enforced() {
    let target = TestTarget::start().await;
    let prober = Prober::new(crate::helpers::allow_all(), 5).expect("prober");
    let result = prober
        .probe(
            HttpMethod::Get,
            &target.url("/slow/2000"),
            200,
            Duration::from_millis(200),
        )
        .await;
    assert_eq!(result.error.as_deref(), Some("timed out after 200 ms"));
}
