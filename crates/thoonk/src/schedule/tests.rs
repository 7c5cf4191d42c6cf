use super::*;
use chrono::NaiveDateTime;

/// `2026-03-08 07:00` (UTC) as Unix ms.
fn utc(text: &str) -> u64 {
    let at = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("a UTC time");
    at.and_utc().timestamp_millis() as u64
}

/// The first `n` ticks after `from` (UTC).
fn ticks(schedule: &Schedule, from: &str, n: usize) -> Vec<u64> {
    let mut at = utc(from);
    (0..n)
        .map(|_| {
            at = schedule.next_after(at).expect("a next tick");
            at
        })
        .collect()
}

fn new_york(expr: &str) -> Schedule {
    Schedule::cron(expr).in_zone("America/New_York")
}

#[test]
fn every_ticks_on_the_multiples_of_its_period() {
    let minute = Schedule::every(Duration::from_secs(60));
    assert_eq!(minute.next_after(0), Some(60_000));
    assert_eq!(minute.next_after(59_999), Some(60_000));
    assert_eq!(minute.next_after(60_000), Some(120_000));
    assert_eq!(minute.spec(), "every 60s");
    let odd = Schedule::every(Duration::from_millis(1500));
    assert_eq!(odd.spec(), "every 1500ms");
    assert_eq!(odd.next_after(1500), Some(3000));
}

#[test]
fn a_time_skipped_by_spring_forward_ticks_right_after_the_change() {
    // 2026-03-08, New York: 02:00 EST (07:00 UTC) becomes 03:00 EDT.
    let daily = new_york("30 2 * * *");
    assert_eq!(
        ticks(&daily, "2026-03-08 06:59", 2),
        [utc("2026-03-08 07:00"), utc("2026-03-09 06:30")],
        "03:00 EDT on the day of the change, 02:30 EDT the next"
    );
    // A wildcard job skips the hour that does not exist.
    let half_hourly = new_york("*/30 * * * *");
    assert_eq!(
        ticks(&half_hourly, "2026-03-08 06:45", 2),
        [utc("2026-03-08 07:00"), utc("2026-03-08 07:30")]
    );
}

#[test]
fn a_time_repeated_by_fall_back_ticks_once() {
    // 2026-11-01, New York: 02:00 EDT (06:00 UTC) becomes 01:00 EST, so
    // 01:30 comes at 05:30 UTC and again at 06:30 UTC.
    let daily = new_york("30 1 * * *");
    assert_eq!(
        ticks(&daily, "2026-11-01 05:00", 2),
        [utc("2026-11-01 05:30"), utc("2026-11-02 06:30")],
        "the first 01:30 only, then 01:30 EST the next day"
    );
    // A wildcard job ticks at each instant of real time that matches.
    let half_hourly = new_york("*/30 * * * *");
    assert_eq!(
        ticks(&half_hourly, "2026-11-01 05:00", 4),
        [
            utc("2026-11-01 05:30"),
            utc("2026-11-01 06:00"),
            utc("2026-11-01 06:30"),
            utc("2026-11-01 07:00"),
        ]
    );
}

#[test]
fn missed_ticks_are_over_the_next_is_after_now() {
    let hourly = Schedule::cron("0 * * * *");
    // Down from 01:00 to 05:10: the next tick is 06:00, not 02:00.
    assert_eq!(
        hourly.next_after(utc("2026-01-01 05:10")),
        Some(utc("2026-01-01 06:00"))
    );
    // From the very instant of a tick (within its second too): the next.
    let at = utc("2026-01-01 05:00");
    assert_eq!(hourly.next_after(at), Some(utc("2026-01-01 06:00")));
    assert_eq!(hourly.next_after(at + 400), Some(utc("2026-01-01 06:00")));
    // Seconds are optional.
    let secs = Schedule::cron("*/10 * * * * *");
    assert_eq!(secs.next_after(at + 400), Some(at + 10_000));
}

#[test]
fn bad_expressions_zones_and_periods_say_what_is_wrong() {
    let bad = Schedule::cron("61 * * * *").check().unwrap_err();
    assert!(
        bad.starts_with("bad cron expression \"61 * * * *\": "),
        "{bad}"
    );
    assert!(Schedule::cron("* * *").check().is_err());
    let zone = Schedule::cron("0 * * * *")
        .in_zone("Mars/Olympus")
        .check()
        .unwrap_err();
    assert!(
        zone.contains("unknown time zone \"Mars/Olympus\""),
        "{zone}"
    );
    assert!(Schedule::every(Duration::from_millis(999)).check().is_err());
    assert!(Schedule::every(Duration::from_secs(1)).check().is_ok());
    let zoned_every = Schedule::every(Duration::from_secs(5)).in_zone("Europe/Paris");
    assert!(zoned_every.check().is_err());
}

#[test]
fn text_reads_back_as_written() {
    for text in [
        "every 60s",
        "every 1500ms",
        "0 9 * * MON-FRI",
        "0 9 * * MON-FRI in Europe/Paris",
    ] {
        let schedule: Schedule = text.parse().unwrap();
        assert_eq!(schedule.to_string(), text);
        let stored = from_stored(&schedule.spec(), schedule.zone()).unwrap();
        assert_eq!(stored, schedule);
    }
    assert_eq!(
        "every 5".parse::<Schedule>().unwrap().period(),
        Some(Duration::from_secs(5))
    );
    assert!("every x".parse::<Schedule>().is_err());
    assert!("0 9 * * * in Nowhere".parse::<Schedule>().is_err());
}
