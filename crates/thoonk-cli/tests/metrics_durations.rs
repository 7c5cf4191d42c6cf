//! `/metrics` of `thoonk dashboard` read as Prometheus reads it: every
//! line of the text exposition format parses, and the run times
//! (`thoonk_job_duration_seconds`, from the tally in Redis) are a
//! histogram whose buckets only grow, whose `+Inf` bucket is its
//! `_count`, and whose buckets hold jobs of known length where they
//! belong.

mod common;

use common::dashboard::Dashboard;
use common::http::line;
use common::{block_on, Redis};
use std::collections::BTreeMap;
use std::time::Duration;

/// One sample: its name, its labels (in order), its value.
type Sample = (String, Vec<(String, String)>, f64);

/// Parses the text exposition format (version 0.0.4): `# HELP`/`# TYPE`
/// lines, and `name{label="value",…} value` with `\\`, `\"` and `\n`
/// escaped in label values. Panics at the first line that does not parse.
fn parse(text: &str) -> (Vec<Sample>, BTreeMap<String, String>) {
    let mut samples = Vec::new();
    let mut types = BTreeMap::new();
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !s.starts_with(|c: char| c.is_ascii_digit())
    };
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(l);
            assert!(is_name(name), "{l}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{l}"
            );
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "twice: {l}"
            );
            continue;
        }
        if l.starts_with("# HELP ") || l.is_empty() {
            continue;
        }
        let (name, mut rest) = l.split_at(l.find(['{', ' ']).expect(l));
        assert!(is_name(name), "{l}");
        let mut labels = Vec::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.chars();
            loop {
                let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
                if key.is_empty() {
                    break;
                }
                assert!(is_name(&key), "label {key:?} in {l}");
                assert_eq!(chars.next(), Some('"'), "{l}");
                let mut value = String::new();
                loop {
                    match chars.next().expect(l) {
                        '"' => break,
                        '\\' => value.push(match chars.next().expect(l) {
                            'n' => '\n',
                            c @ ('\\' | '"') => c,
                            c => panic!("escape \\{c} in {l}"),
                        }),
                        c => value.push(c),
                    }
                }
                labels.push((key, value));
                match chars.next().expect(l) {
                    ',' => continue,
                    '}' => break,
                    c => panic!("{c:?} after a label in {l}"),
                }
            }
            rest = &l[l.len() - chars.as_str().len()..];
        }
        let value = rest.strip_prefix(' ').expect(l);
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value {v:?} in {l}")),
        };
        samples.push((name.to_string(), labels, value));
    }
    (samples, types)
}

/// Finishes `n` jobs of `mail` by hand, each held `held` by the server's
/// (moved) clock.
fn finish_held(redis: &Redis, n: usize, held: Duration) {
    block_on(async {
        let thoonk = thoonk::Thoonk::connect(&redis.url())
            .await
            .expect("connect");
        let q = thoonk.queue("mail").expect("a queue name");
        q.publish_many((0..n).map(|i| format!("mail {i}")))
            .await
            .expect("publish");
        let jobs = q.claim(n).await.expect("claim");
        redis
            .server()
            .clock()
            .advance(held)
            .expect("move the clock");
        for job in &jobs {
            q.finish(job).await.expect("finish");
        }
    });
}

#[test]
fn metrics_parse_and_run_times_are_a_histogram() {
    let redis = Redis::start_clocked();
    finish_held(&redis, 3, Duration::from_millis(150));
    finish_held(&redis, 2, Duration::from_secs(5));
    let d = Dashboard::on(redis, None);
    d.until("the finishes seen", |o| {
        line(o, "mail").is_some_and(|q| q["finishes"] == 5)
    });
    let body = d.get("/metrics").body;
    let (samples, types) = parse(&body);
    let name = "thoonk_job_duration_seconds";
    assert_eq!(
        types.get(name).map(String::as_str),
        Some("histogram"),
        "{body}"
    );
    let of = |suffix: &str| -> Vec<&Sample> {
        let full = format!("{name}{suffix}");
        samples.iter().filter(|s| s.0 == full).collect()
    };
    let buckets: Vec<(f64, f64)> = of("_bucket")
        .iter()
        .map(|(_, labels, v)| {
            assert_eq!(labels[0], ("queue".into(), "mail".into()));
            let le = &labels[1];
            assert_eq!(le.0, "le");
            let bound = if le.1 == "+Inf" {
                f64::INFINITY
            } else {
                le.1.parse().unwrap()
            };
            (bound, *v)
        })
        .collect();
    assert!(
        buckets.windows(2).all(|w| w[0].0 < w[1].0),
        "le ascending: {buckets:?}"
    );
    assert!(
        buckets.windows(2).all(|w| w[0].1 <= w[1].1),
        "cumulative: {buckets:?}"
    );
    let (last_le, last) = *buckets.last().unwrap();
    assert_eq!(last_le, f64::INFINITY);
    assert_eq!(of("_count")[0].2, last);
    assert_eq!(last, 5.0);
    let at = |le: f64| buckets.iter().find(|b| b.0 == le).unwrap().1;
    // 3 runs of 150 ms (and the ms the test's calls take) in (0.128, 0.256],
    // 2 of 5 s in (4.096, 8.192].
    assert_eq!((at(0.128), at(0.256)), (0.0, 3.0), "{buckets:?}");
    assert_eq!((at(4.096), at(8.192)), (3.0, 5.0), "{buckets:?}");
    let sum = of("_sum")[0].2;
    assert!((10.45..11.4).contains(&sum), "{sum}");
}
