//! docker/nats/nats.conf, the NATS configuration of every environment,
//! against a real nats-server: who may connect, and what each service may
//! publish and subscribe to. Spoken in NATS' own text protocol, so every
//! refusal is the server's exact answer.

use platform::{
    config::Secret,
    connections::connect_nats,
    live::{all_users_subject, user_subject},
    testing::{NatsCluster, block_on},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};
use uuid::Uuid;

/// Connects to `address`, signs in as `user` (none: no credentials), sends
/// `commands` and a PING, and returns what the server answered up to the
/// PONG (or until it hung up).
async fn session(address: &str, user: Option<(&str, &str)>, commands: &[&str]) -> Vec<String> {
    let stream = TcpStream::connect(address).await.expect("connect");
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let info = lines.next_line().await.expect("read").expect("INFO");
    assert!(info.starts_with("INFO "), "{info}");
    let credentials = user.map_or_else(String::new, |(user, pass)| {
        format!(r#","user":"{user}","pass":"{pass}""#)
    });
    let mut out = format!(r#"CONNECT {{"verbose":false,"pedantic":false{credentials}}}"#);
    out.push_str("\r\n");
    for command in commands {
        out.push_str(command);
        out.push_str("\r\n");
    }
    out.push_str("PING\r\n");
    write.write_all(out.as_bytes()).await.expect("write");
    let mut answers = Vec::new();
    let deadline = std::time::Duration::from_secs(5);
    while let Ok(Ok(Some(line))) = tokio::time::timeout(deadline, lines.next_line()).await {
        if line == "PONG" {
            break;
        }
        answers.push(line);
    }
    answers
}

fn refused(answers: &[String]) -> bool {
    answers.iter().any(|a| a.starts_with("-ERR"))
}

#[test]
fn nats_refuses_strangers_and_holds_each_service_to_its_subjects() {
    let cluster = NatsCluster::start(1);
    block_on(async {
        cluster.wait_meshed().await;
        let node = cluster.node_address(0);
        let api = Some(cluster.newest("api"));
        let worker = Some(cluster.newest("worker"));
        let event = format!("PUB {} 2\r\n{{}}", user_subject(Uuid::now_v7()));

        // Strangers: nothing, a wrong password, a known password under
        // another user's name, the placeholder of a service with one
        // generation.
        let (_, api_password) = cluster.newest("api");
        for stranger in [
            None,
            Some(("api-2", "guess")),
            Some(("worker-1", api_password)),
            Some(("api", api_password)),
            Some(("worker-none", "")),
        ] {
            let answers = session(&node, stranger, &[]).await;
            assert!(
                answers
                    .iter()
                    .any(|a| a.contains("Authorization Violation")),
                "{stranger:?} was let in: {answers:?}"
            );
        }

        // The api reads every user's events, publishes them (an area's
        // changes) and wakes the workers.
        let answers = session(
            &node,
            api,
            &[
                &format!("SUB {} 1", all_users_subject()),
                &event,
                "PUB beacon.wake.checks 0\r\n",
            ],
        )
        .await;
        assert!(!refused(&answers), "{answers:?}");
        // So does its previous generation, for machines that have not
        // moved to the newest password yet.
        let previous = session(
            &node,
            Some(cluster.newest("api-1")),
            &[&format!("SUB {} 1", all_users_subject())],
        )
        .await;
        assert!(!refused(&previous), "{previous:?}");
        // ...and nothing else.
        for denied in ["SUB beacon.wake.> 1", "PUB beacon.admin 0\r\n", "SUB > 1"] {
            let answers = session(&node, api, &[denied]).await;
            assert!(
                answers.iter().any(|a| a.contains("Permissions Violation")),
                "the api may `{denied}`: {answers:?}"
            );
        }

        // The worker publishes check results and wake-ups and listens
        // for wake-ups, but never reads a user's events.
        let answers = session(
            &node,
            worker,
            &[
                "SUB beacon.wake.> 1",
                &event,
                "PUB beacon.wake.checks 0\r\n",
            ],
        )
        .await;
        assert!(!refused(&answers), "{answers:?}");
        for denied in [
            format!("SUB {} 1", all_users_subject()),
            format!("SUB {} 1", user_subject(Uuid::now_v7())),
            "PUB beacon.admin 0\r\n".to_owned(),
        ] {
            let answers = session(&node, worker, &[&denied]).await;
            assert!(
                answers.iter().any(|a| a.contains("Permissions Violation")),
                "the worker may `{denied}`: {answers:?}"
            );
        }

        // A node that does not know the route password cannot join.
        let answers = session(&cluster.route_address(0), Some(("route", "guess")), &[]).await;
        assert!(
            answers
                .iter()
                .any(|a| a.contains("Authorization Violation")),
            "a route without the password was let in: {answers:?}"
        );

        // The services' own client signs in from the URL's credentials.
        let client = connect_nats(&Secret::new(cluster.node_url(0, "api")), "test")
            .await
            .expect("connect");
        let mut subscriber = client.subscribe(all_users_subject()).await.expect("sub");
        client.flush().await.expect("flush");
        let subject = user_subject(Uuid::now_v7());
        client
            .publish(subject.clone(), "{}".into())
            .await
            .expect("pub");
        let message = tokio::time::timeout(std::time::Duration::from_secs(5), {
            use futures::StreamExt;
            subscriber.next()
        })
        .await
        .expect("delivered in time")
        .expect("a message");
        assert_eq!(message.subject.as_str(), subject);
    });
}
