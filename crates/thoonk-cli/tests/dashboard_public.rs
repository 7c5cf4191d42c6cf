//! `thoonk dashboard` on a public address, probed as an attacker would:
//! raw sockets that send nothing or stop half-way, many connections, token
//! guessing, stolen cookies, a proxy's headers, huge payloads, and Redis
//! going away under `/metrics`. The real binary against a private Redis.

mod common;

use common::dashboard::Dashboard;
use common::http::line;
use common::{block_on, Redis};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use thoonk_testkit::poll::{self, DEADLINE};

const TOKEN: &str = "public-token-0123456789";

/// Timeouts short enough for a test: header 500 ms, idle 1 s, request
/// 2 s.
const FAST: [&str; 6] = [
    "--header-timeout-ms",
    "500",
    "--idle-timeout-ms",
    "1000",
    "--request-timeout-ms",
    "2000",
];

/// A POST of the login form from the dashboard's own page.
fn login(d: &Dashboard, token: &str) -> common::http::Response {
    d.request("POST", "/login")
        .header("Origin", &format!("http://{}", d.addr))
        .form(&format!("token={token}"))
        .send()
}

/// The cookie (`NAME=VALUE`) a successful login set.
fn cookie_of(r: &common::http::Response) -> String {
    let set = r.header("set-cookie").expect("a cookie");
    set.split(';').next().unwrap().to_string()
}

/// Whether the server closed `socket` (EOF or reset), waiting up to the
/// deadline for it to.
fn closed_by_server(socket: &mut TcpStream) -> bool {
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut byte = [0; 1];
    match socket.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
        ),
    }
}

/// Whether the server closed `socket` already (not waiting).
fn closed_now(socket: &TcpStream) -> bool {
    socket.set_nonblocking(true).unwrap();
    let mut byte = [0; 1];
    let closed = match (&*socket).read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    socket.set_nonblocking(false).unwrap();
    closed
}

#[test]
fn a_short_token_is_refused_with_a_way_to_make_one() {
    let redis = Redis::start();
    let out = redis.thoonk(&["dashboard", "--token", "a"]);
    out.failed(2, &["too short", "16", "openssl rand -hex 16"]);
    let out = redis.thoonk(&["dashboard", "--help"]);
    let help = out.assert_success();
    assert!(help.contains("value shows in `ps`"), "{help}");
    assert!(help.contains("THOONK_DASHBOARD_TOKEN"), "{help}");
}

#[test]
fn wrong_tokens_shut_the_address_out_for_a_while() {
    let d = Dashboard::start(Some(TOKEN));
    for _ in 0..5 {
        assert_eq!(login(&d, "wrong-token-0123456789").status, 401);
    }
    let shut = login(&d, "wrong-token-0123456789");
    assert_eq!(shut.status, 429, "{}", shut.body);
    let wait: u64 = shut
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(wait >= 1, "{wait}");
    // Shut out means not even compared: the right token waits too, by
    // form and by bearer.
    assert_eq!(login(&d, TOKEN).status, 429);
    let bearer = d.request("GET", "/api/queues").bearer(Some(TOKEN)).send();
    assert_eq!(bearer.status, 429, "{}", bearer.body);
    assert!(bearer.header("retry-after").is_some());
}

#[test]
fn each_login_is_its_own_session_and_logout_ends_it() {
    let d = Dashboard::start(Some(TOKEN));
    let first = login(&d, TOKEN);
    assert_eq!(first.status, 303);
    let set = first.header("set-cookie").unwrap();
    assert!(set.contains("Max-Age="), "{set}");
    assert!(!set.contains("Secure"), "plain HTTP, no proxy: {set}");
    let (a, b) = (cookie_of(&first), cookie_of(&login(&d, TOKEN)));
    assert_ne!(a, b, "a login id per login");
    let page = |cookie: &str| {
        d.request("GET", "/queues/q")
            .header("Cookie", cookie)
            .send()
    };
    assert_eq!(page(&a).status, 200);
    let out = d
        .request("POST", "/logout")
        .header("Cookie", &a)
        .header("Origin", &format!("http://{}", d.addr))
        .send();
    assert_eq!(out.status, 303);
    // The cookie copied before logout opens nothing now.
    let after = page(&a);
    assert_eq!(
        (after.status, after.header("location")),
        (303, Some("/login"))
    );
    assert_eq!(page(&b).status, 200, "another login goes on");
}

#[test]
fn the_pages_own_forms_pass_the_origin_check() {
    let d = Dashboard::start(Some(TOKEN));
    let r = d.request("GET", "/login").send();
    // Not `no-referrer`: a browser would send its own forms with
    // `Origin: null` then.
    assert_eq!(r.header("referrer-policy"), Some("same-origin"));
    let null = |fetch_site: Option<&str>| {
        let r = d
            .request("POST", "/login")
            .header("Origin", "null")
            .form(&format!("token={TOKEN}"));
        match fetch_site {
            Some(site) => r.header("Sec-Fetch-Site", site).send(),
            None => r.send(),
        }
    };
    assert_eq!(null(Some("same-origin")).status, 303);
    assert_eq!(null(Some("cross-site")).status, 403);
    assert_eq!(null(None).status, 403);
}

#[test]
fn behind_a_trusted_proxy_its_scheme_and_client_address_count() {
    let d = Dashboard::with_flags(Redis::start(), Some(TOKEN), &["--behind-proxy"]);
    let via = |origin: &str, client: &str, token: &str| {
        d.request("POST", "/login")
            .header("Origin", origin)
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-For", &format!("198.51.100.9, {client}"))
            .form(&format!("token={token}"))
            .send()
    };
    let https = format!("https://{}", d.addr);
    let ok = via(&https, "203.0.113.1", TOKEN);
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(ok.header("set-cookie").unwrap().contains("; Secure"));
    // The page was https: an http Origin is another site's.
    let http = via(&format!("http://{}", d.addr), "203.0.113.1", TOKEN);
    assert_eq!(http.status, 403);
    // Wrong tries count against the address the proxy appended, not the
    // proxy's own (which every client shares).
    for _ in 0..6 {
        via(&https, "203.0.113.2", "wrong-token-0123456789");
    }
    assert_eq!(via(&https, "203.0.113.2", TOKEN).status, 429);
    assert_eq!(via(&https, "203.0.113.3", TOKEN).status, 303);
}

#[test]
fn silent_connections_are_closed_and_the_cap_makes_the_next_one_wait() {
    let mut flags = FAST.to_vec();
    flags.extend(["--max-connections", "4"]);
    let d = Dashboard::with_flags(Redis::start(), None, &flags);
    let mut silent: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(&d.addr).expect("connect"))
        .collect();
    // Over the cap: it waits until a silent one is closed, then is served.
    let mut fifth = TcpStream::connect(&d.addr).expect("connect");
    write!(
        fifth,
        "GET /login HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        d.addr
    )
    .unwrap();
    fifth.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut reply = String::new();
    fifth.read_to_string(&mut reply).expect("a reply");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        silent.iter().any(closed_now),
        "the fifth was served while the four silent ones held every slot"
    );
    for socket in &mut silent {
        assert!(closed_by_server(socket), "a silent connection stays open");
    }
}

#[test]
fn a_stalled_request_is_closed_but_a_live_stream_is_not() {
    let d = Dashboard::with_flags(Redis::start(), None, &FAST);
    let mut stream = d.request("GET", "/api/live").stream();
    stream.next("overview");
    // A request whose body never comes: past the header, cut by the idle
    // timeout. Opened after the stream's last byte, so once it is cut the
    // stream too has been idle that long.
    let mut stalled = TcpStream::connect(&d.addr).expect("connect");
    write!(
        stalled,
        "POST /login HTTP/1.1\r\nHost: {0}\r\nOrigin: http://{0}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntoken=",
        d.addr
    )
    .unwrap();
    assert!(
        closed_by_server(&mut stalled),
        "a stalled request stays open"
    );
    // The stream still follows the queues.
    d.redis.publish("q", "x", &[]);
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let overview = stream.next("overview");
        if line(&overview, "q").is_some_and(|q| q["available"] == 1) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{overview}");
    }
}

/// A body sent a byte at a time, each soon enough for the idle timeout:
/// the request timeout answers 408 and closes the connection.
#[test]
fn a_body_that_drips_in_is_cut_by_the_request_timeout() {
    let d = Dashboard::with_flags(Redis::start(), None, &FAST);
    let mut dripping = TcpStream::connect(&d.addr).expect("connect");
    write!(
        dripping,
        "POST /login HTTP/1.1\r\nHost: {0}\r\nOrigin: http://{0}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000\r\n\r\n",
        d.addr
    )
    .unwrap();
    let mut writer = dripping.try_clone().unwrap();
    // The slow client's pace, well inside the 1 s idle timeout; it stops
    // when the server closes the connection.
    let drip = std::thread::spawn(move || {
        while writer.write_all(b"x").is_ok() {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    });
    dripping.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut reply = String::new();
    let _ = dripping.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply:?}");
    drip.join().unwrap();
}

#[test]
fn metrics_answer_503_once_redis_cannot_be_read() {
    let mut d = Dashboard::start(None);
    let ok = d.get("/metrics");
    assert_eq!(ok.status, 200);
    assert!(ok.body.contains("thoonk_up 1"), "{}", ok.body);
    d.redis.stop();
    let down = poll::poll(DEADLINE, || {
        let r = d.get("/metrics");
        (r.status != 200).then_some(r)
    })
    .expect("/metrics still 200 with Redis gone");
    assert_eq!(down.status, 503);
    assert!(down.body.contains("thoonk_up 0"), "{}", down.body);
}

/// Bytes Redis has sent to all its clients so far.
fn redis_output_bytes(redis: &Redis) -> u64 {
    let info = redis.query(&["INFO", "stats"]).text().expect("INFO text");
    info.lines()
        .find_map(|l| l.strip_prefix("total_net_output_bytes:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("total_net_output_bytes")
}

#[test]
fn listings_read_no_large_payload_and_cap_their_pages() {
    const BIG: usize = 5 << 20;
    let d = Dashboard::start(None);
    let url = d.redis.url();
    block_on(async {
        let thoonk = thoonk::Thoonk::connect(&url).await.expect("connect");
        let q = thoonk.queue("big").expect("a queue");
        for i in 0..4u8 {
            let item = vec![b'a' + i; BIG];
            q.publish(item, thoonk::Publish::new().id(format!("big{i}")))
                .await
                .expect("publish");
        }
        let small = (0..120).map(|i| format!("small {i}"));
        thoonk
            .queue("many")
            .unwrap()
            .publish_many(small)
            .await
            .expect("publish");
    });

    let before = redis_output_bytes(&d.redis);
    let listing = d.get("/api/queues/big/jobs?limit=500");
    let sent = redis_output_bytes(&d.redis) - before;
    assert_eq!(listing.status, 200, "{}", listing.body);
    assert!(listing.body.len() < 4096, "{} bytes", listing.body.len());
    assert!(sent < 1 << 20, "Redis sent {sent} bytes for a listing");
    let jobs: serde_json::Value = serde_json::from_str(&listing.body).unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), 4);
    for job in jobs.as_array().unwrap() {
        assert_eq!(
            (&job["item"], &job["item_bytes"]),
            (&"".into(), &BIG.into()),
            "{job}"
        );
    }
    let page = d.get("/queues/big");
    assert!(page.body.len() < 64 << 10, "{} bytes", page.body.len());
    assert!(page
        .body
        .contains(&format!("({BIG} bytes: open the job to see it)")));

    // The job's own page and API call give it whole, with its size.
    let whole = d.get("/api/queues/big/jobs/big2");
    assert_eq!(
        whole.status,
        200,
        "{}",
        &whole.body[..whole.body.len().min(500)]
    );
    let whole: serde_json::Value = serde_json::from_str(&whole.body).unwrap();
    assert_eq!(whole["item"].as_str().map(str::len), Some(BIG));
    let page = d.get("/queues/big/jobs/big2");
    assert!(page.body.contains(&format!("({BIG} bytes)")));

    let many = d.json("/api/queues/many/jobs?limit=500");
    assert_eq!(
        many.as_array().unwrap().len(),
        100,
        "the most one page gives"
    );
}
