//! The dashboard mounted in an app of its own (the `thoonk-dashboard`
//! crate's router nested under a prefix), over HTTP: its pages, API,
//! actions, live stream and metrics answer under the prefix; every URL it
//! writes and every redirect it sends stays under it; the login cookie's
//! `Path` is the prefix; the app's own auth and pages are the app's; the
//! Origin check and the security headers hold as at the root. The app runs
//! in this process (`common::mounted`) against a private Redis.

mod common;

use common::dashboard::Dashboard;
use common::http::{line, Request};
use common::mounted::{Door, MountedApp, APP_PAGE};
use common::Redis;

const PREFIX: &str = "/admin/queues";

/// Every URL a page names in `href`, `src` or `action` (inline `data:`
/// URLs aside).
fn urls(page: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for attribute in [" href=\"", " src=\"", " action=\""] {
        for (at, _) in page.match_indices(attribute) {
            let rest = &page[at + attribute.len()..];
            let url = &rest[..rest.find('"').expect("a closed attribute")];
            if !url.starts_with("data:") {
                found.push(url);
            }
        }
    }
    found
}

/// Asserts that every URL `page` names is under the prefix.
#[track_caller]
fn all_under_the_prefix(page: &str) {
    let urls = urls(page);
    assert!(!urls.is_empty(), "no URL in {page}");
    for url in urls {
        assert!(
            url == PREFIX || url.starts_with(&format!("{PREFIX}/")),
            "{url} is not under {PREFIX}: {page}"
        );
    }
}

#[test]
fn behind_the_apps_basic_auth_pages_api_actions_and_streams_answer_under_the_prefix() {
    let d = Dashboard::mounted(PREFIX, Door::Basic("admin", "s3cret"));
    d.redis.publish("mail", "one", &["--id", "j1"]);
    d.redis.publish("mail", "two", &["--id", "j2"]);

    // The app's auth is in front of the dashboard; its own page is its own.
    let anonymous = Request::new(&d.addr, "GET", PREFIX).send();
    assert_eq!(
        (anonymous.status, anonymous.header("www-authenticate")),
        (401, Some(r#"Basic realm="queues""#))
    );
    let home = Request::new(&d.addr, "GET", "/").send();
    assert_eq!((home.status, home.body.as_str()), (200, APP_PAGE));

    // The overview, at the prefix itself: every link, the style and the
    // script under it; the script is told where it is mounted.
    d.until("mail listed", |o| line(o, "mail").is_some());
    let page = d.get("");
    assert_eq!(page.status, 200, "{}", page.body);
    all_under_the_prefix(&page.body);
    for expected in [
        r#"<body data-page="overview" data-base="/admin/queues">"#,
        r#"<a class="brand" href="/admin/queues">"#,
        r#"<a href="/admin/queues/queues/mail">mail</a>"#,
        r#"<script src="/admin/queues/assets/app.js">"#,
    ] {
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
    }
    // What holds at the root holds here: no framing, no other site's
    // scripts.
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(page
        .header("content-security-policy")
        .is_some_and(|csp| csp.contains("frame-ancestors 'none'")));
    let script = d.get("/assets/app.js");
    assert!(script.body.contains("dataset.base"), "{}", script.body);
    assert_eq!(d.get("/assets/app.css").status, 200);

    // A queue's page, a job's page, and "find a job by id", which
    // redirects under the prefix.
    let queue = d.get("/queues/mail?state=available");
    assert!(queue
        .body
        .contains(r#"<a href="/admin/queues/queues/mail/jobs/j1">"#));
    all_under_the_prefix(&queue.body);
    let found = d.get("/queues/mail?find=j2");
    assert_eq!(
        (found.status, found.header("location")),
        (303, Some("/admin/queues/queues/mail/jobs/j2"))
    );
    let job = d.get("/queues/mail/jobs/j2");
    assert_eq!(job.status, 200, "{}", job.body);
    all_under_the_prefix(&job.body);

    // The API, the live stream and the metrics.
    assert_eq!(d.json("/api/queues/mail")["available"], 2);
    let mut live = d.request("GET", "/api/live/mail").stream();
    assert_eq!(live.next("stats")["available"], 2);
    assert!(d
        .get("/metrics")
        .body
        .contains(r#"thoonk_jobs{queue="mail",state="available"} 2"#));

    // An action from the dashboard's own page works; the same from a page
    // of another site, with the browser's basic auth riding along, does
    // not.
    let cross = d
        .request("POST", "/api/queues/mail/jobs/j1/retract")
        .header("Origin", "http://evil.example")
        .send();
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert_eq!(d.redis.ids("mail", "available").len(), 2);
    let done = d.post("/api/queues/mail/jobs/j1/retract");
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(live.next("stats")["available"], 1);
    assert_eq!(d.redis.ids("mail", "available"), ["j2"]);
}

#[test]
fn with_its_own_token_the_login_its_cookie_and_every_redirect_stay_under_the_prefix() {
    let d = Dashboard::mounted(PREFIX, Door::Token("s3cret-token-0123456789"));
    let anonymous = |method: &str, path: &str| Request::new(&d.addr, method, path).send();

    // Pages send a browser to the login form, under the prefix.
    for path in [PREFIX, "/admin/queues/queues/mail"] {
        let page = anonymous("GET", path);
        assert_eq!(
            (page.status, page.header("location")),
            (303, Some("/admin/queues/login")),
            "{path}"
        );
    }
    assert_eq!(anonymous("GET", "/admin/queues/api/queues").status, 401);
    // The app's own page needs no token of the dashboard's.
    assert_eq!(anonymous("GET", "/").body, APP_PAGE);
    let form = anonymous("GET", "/admin/queues/login");
    assert_eq!(form.status, 200);
    all_under_the_prefix(&form.body);
    assert!(form
        .body
        .contains(r#"<form method="post" action="/admin/queues/login">"#));

    // A wrong token: the form again, still under the prefix.
    let login = |token: &str| {
        d.request("POST", "/login")
            .header("Origin", &format!("http://{}", d.addr))
            .form(&format!("token={token}"))
            .send()
    };
    let wrong = login("wrong");
    assert_eq!(wrong.status, 401);
    all_under_the_prefix(&wrong.body);

    // The right one: home, under the prefix, with a cookie for the
    // dashboard's paths only.
    let ok = login("s3cret-token-0123456789");
    assert_eq!((ok.status, ok.header("location")), (303, Some(PREFIX)));
    let set = ok.header("set-cookie").expect("a cookie");
    assert!(set.contains("; Path=/admin/queues;"), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let page = d.request("GET", "").header("Cookie", &cookie).send();
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"action="/admin/queues/logout""#));
    all_under_the_prefix(&page.body);

    // Logging out clears the same cookie and sends the browser to the
    // form.
    let out = d
        .request("POST", "/logout")
        .header("Cookie", &cookie)
        .header("Origin", &format!("http://{}", d.addr))
        .send();
    assert_eq!(
        (out.status, out.header("location")),
        (303, Some("/admin/queues/login"))
    );
    let cleared = out.header("set-cookie").unwrap();
    assert!(
        cleared.contains("; Path=/admin/queues;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

#[test]
fn the_mount_point_is_learnt_per_request_a_path_parameter_or_a_trailing_slash_too() {
    let redis = Redis::start();
    redis.publish("mail", "one", &["--id", "j1"]);

    // Nested under a path with a parameter: each request's own prefix.
    let app = MountedApp::start(
        &redis.url(),
        "/t/{tenant}/queues",
        Door::Token("tok-0123456789abcdef"),
    );
    for tenant in ["acme", "globex"] {
        let page = Request::new(&app.addr, "GET", &format!("/t/{tenant}/queues"))
            .bearer(Some("tok-0123456789abcdef"))
            .send();
        assert_eq!(page.status, 200, "{}", page.body);
        let link = format!(r#"<a href="/t/{tenant}/queues/queues/mail">mail</a>"#);
        assert!(page.body.contains(&link), "{link}: {}", page.body);
        let login =
            Request::new(&app.addr, "GET", &format!("/t/{tenant}/queues/queues/mail")).send();
        let expected = format!("/t/{tenant}/queues/login");
        assert_eq!(login.header("location"), Some(expected.as_str()));
    }

    // Nested at a path ending in a slash: home keeps it (axum answers
    // `/ops/` there, not `/ops`).
    let app = MountedApp::start(&redis.url(), "/ops/", Door::Token("tok-0123456789abcdef"));
    let page = Request::new(&app.addr, "GET", "/ops/")
        .bearer(Some("tok-0123456789abcdef"))
        .send();
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(r#"<a class="brand" href="/ops/">"#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"<a href="/ops/queues/mail">mail</a>"#));
    let form = Request::new(&app.addr, "POST", "/ops/login")
        .header("Origin", &format!("http://{}", app.addr))
        .form("token=tok-0123456789abcdef")
        .send();
    assert_eq!(form.header("location"), Some("/ops/"));
}
