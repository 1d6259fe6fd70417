//! Every job and periodic task this worker runs, registered in one place.
//! A job is a [`Handler`](platform::jobs::Handler) in a domain crate;
//! adding one is one line here.

use platform::jobs::JobHost;

pub fn register(host: &mut JobHost) -> anyhow::Result<()> {
    host.register(accounts::Welcomes::new(host.app()));

    let uptime = uptime::UptimeWorker::new(host)?; // example
    host.register(uptime.checks()?); // example
    host.register(uptime.alerts()?); // example
    host.every(uptime.scheduler()); // example
    host.every(uptime.retention()); // example
    host.every(uptime.alert_outbox()); // example
    Ok(())
}
