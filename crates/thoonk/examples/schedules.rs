//! Schedules: an item published at each tick, once across every worker.
use std::time::Duration;
use thoonk::{Schedule, Thoonk};

#[tokio::main]
async fn main() -> thoonk::Result<()> {
    let _redis = thoonk_testkit::redis_unless_configured(); // no Redis? a private one
    let reports = Thoonk::connect_from_env().await?.queue("schedules-demo")?;
    // Weekdays at 09:00 in Paris (DST and all), and every 10 seconds.
    let weekdays = Schedule::cron("0 9 * * MON-FRI").in_zone("Europe/Paris");
    reports.schedule("daily", weekdays, "daily report").await?;
    let every = Schedule::every(Duration::from_secs(10));
    reports.schedule("heartbeat", every, "ping").await?;
    for s in reports.schedules().await? {
        println!("{}: {} ({})", s.name, s.spec, s.zone);
    }
    // Refused, naming the queue, the schedule and what is wrong.
    let bad = Schedule::cron("0 9 * * *").in_zone("Paris");
    println!("{}", reports.schedule("bad", bad, "").await.unwrap_err());
    // Workers fire due schedules by themselves (the tick's job is
    // `NAME@TICK`); so may anyone, any number of times.
    let fired = reports.fire_schedules().await?;
    let soon = fired.next_in.is_some_and(|d| d <= Duration::from_secs(10));
    println!("next tick within 10 s: {soon}");
    reports.unschedule("heartbeat").await?;
    reports.destroy().await
}
