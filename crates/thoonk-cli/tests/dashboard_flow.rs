//! `thoonk dashboard` and a queue's flow control: pause and resume as
//! actions (refused, as every action is, without the token or from another
//! site). The real binary against a private Redis, over plain HTTP.

mod common;

use common::dashboard::Dashboard;
use common::http::line;
use serde_json::Value;

#[test]
fn pause_and_resume_from_the_dashboard_stop_and_restart_claims() {
    let d = Dashboard::start(None);
    d.redis.publish("mail", "one", &["--id", "m1"]);
    d.until("mail listed", |o| line(o, "mail").is_some());

    let paused = d.post("/api/queues/mail/pause");
    assert_eq!(paused.status, 200, "{}", paused.body);
    let reply: Value = serde_json::from_str(&paused.body).unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["settings"]["paused"], true, "{reply}");
    assert!(
        reply["message"].as_str().unwrap().starts_with("paused: "),
        "{reply}"
    );
    assert!(d.redis.config("mail").paused);
    // No worker is handed the job now. (A window in which nothing may
    // happen: were the queue not paused, `get` would take m1 at once.)
    let out = d.redis.thoonk(&["get", "mail", "--timeout", "0.3"]);
    assert_eq!(out.code, 3, "nothing claimed while paused: {out:?}");
    // Pausing twice is no error: it stays paused.
    assert_eq!(d.post("/api/queues/mail/pause").status, 200);

    let resumed = d.post("/api/queues/mail/resume");
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    let reply: Value = serde_json::from_str(&resumed.body).unwrap();
    assert_eq!(reply["settings"]["paused"], false, "{reply}");
    assert!(!d.redis.config("mail").paused);
    assert_eq!(d.redis.get("mail").id, "m1", "claimed again once resumed");

    // A name no queue can have is refused as it is for the other actions.
    let bad = d.post(&format!("/api/queues/{}/pause", "x".repeat(300)));
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[test]
fn pause_and_resume_are_refused_from_another_site_or_without_the_token() {
    // Without a token: a POST must come from the dashboard's own page.
    let d = Dashboard::start(None);
    d.redis.publish("q", "x", &[]);
    for action in ["pause", "resume"] {
        let path = format!("/api/queues/q/{action}");
        let cross = d
            .request("POST", &path)
            .header("Origin", "http://evil.example")
            .send();
        assert_eq!(cross.status, 403, "{action}: {}", cross.body);
        let no_origin = d.request("POST", &path).send();
        assert_eq!(no_origin.status, 403, "{action}: {}", no_origin.body);
    }
    assert!(!d.redis.config("q").paused, "not paused by a refused call");

    // With one: no token, no action; a cookie needs the Origin too; a
    // bearer call (a program's) does not.
    let d = Dashboard::start(Some("flow-token"));
    d.redis.publish("q", "x", &[]);
    let anonymous = d
        .request("POST", "/api/queues/q/pause")
        .header("Origin", &format!("http://{}", d.addr))
        .send();
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let cookie = d.login();
    let cross = d
        .request("POST", "/api/queues/q/pause")
        .header("Cookie", &cookie)
        .header("Origin", "http://evil.example")
        .send();
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert!(!d.redis.config("q").paused, "not paused by a refused call");
    let same = d
        .request("POST", "/api/queues/q/pause")
        .header("Cookie", &cookie)
        .header("Origin", &format!("http://{}", d.addr))
        .send();
    assert_eq!(same.status, 200, "{}", same.body);
    assert!(d.redis.config("q").paused);
    let cross = d
        .request("POST", "/api/queues/q/resume")
        .header("Cookie", &cookie)
        .header("Origin", "http://evil.example")
        .send();
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert!(d.redis.config("q").paused, "not resumed by a refused call");
    let bearer = d
        .request("POST", "/api/queues/q/resume")
        .bearer(Some("flow-token"))
        .send();
    assert_eq!(bearer.status, 200, "{}", bearer.body);
    assert!(!d.redis.config("q").paused);
}
