//! Every job and periodic task this worker runs, registered in one place.
//! A job is a [`Handler`](platform::jobs::Handler) in a domain crate;
//! adding one is one line here.

use platform::{config::Env, jobs::JobHost};

pub fn register(host: &mut JobHost, env: &Env) -> anyhow::Result<()> {
    let services = host.services().clone();
    host.register(accounts::Welcomes::new(&services));

    let uptime = uptime::UptimeWorker::new(host, env)?; // example
    host.register(uptime.checks()?); // example
    host.register(uptime.alerts()?); // example
    host.every(uptime.scheduler()); // example
    host.every(uptime.retention()); // example
    host.every(uptime.alert_outbox()); // example
    Ok(())
}
