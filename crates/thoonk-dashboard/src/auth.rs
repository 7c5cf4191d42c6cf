//! Who may come in, and from where: the token (a bearer header or the
//! login cookie), loopback host names when told so, the `Origin` of
//! anything that changes state, and the headers that keep other sites from
//! framing or scripting the pages.

use super::app::{refuse, App};
use super::base::Base;
use super::{pages, sessions};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The cookie the login form sets.
const COOKIE: &str = "thoonk_dashboard";

/// How a request proved it may come in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Credential {
    /// No token is set (loopback only).
    Open,
    /// The login cookie: a browser, which might be sent here by another
    /// site's page.
    Cookie,
    /// `Authorization: Bearer`: a program; browsers never add it by
    /// themselves.
    Bearer,
}

/// Where a request came from, as far as the dashboard can tell: the
/// peer's address (`ConnectInfo`), or behind a trusted proxy the address
/// that proxy appended to `X-Forwarded-For`. The guard puts it in the
/// request's extensions, for the login form's throttle.
#[derive(Clone, Copy)]
pub(super) struct Client(pub(super) IpAddr);

/// Every request passes here: the `Host` (when told to answer loopback
/// names only), the token (when there is one), and the `Origin` of
/// anything that changes state. Paths are the dashboard's own: an app that
/// mounted it cut its prefix off already.
pub(super) async fn guard(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let client = client(&app, &request);
    request.extensions_mut().insert(client);
    let headers = request.headers();
    let path = request.uri().path();
    // Only a page of this very host may talk to us, not one that rebound
    // its DNS name to 127.0.0.1.
    if app.loopback_only && !host(headers).is_some_and(is_loopback_host) {
        return refuse(
            StatusCode::FORBIDDEN,
            "this dashboard answers to a loopback host name only",
        );
    }
    let credential = match &app.token {
        None => Some(Credential::Open),
        Some(token) => match credential(&app, headers, token, client) {
            Ok(credential) => credential,
            Err(wait) => return too_many(wait),
        },
    };
    // The login form, and the static assets it uses, hold no data.
    let public = path == "/login" || path.starts_with("/assets/");
    let Some(credential) = credential.or(public.then_some(Credential::Open)) else {
        return if path.starts_with("/api/") || path == "/metrics" || request.method() != Method::GET
        {
            refuse(
                StatusCode::UNAUTHORIZED,
                "a token is needed: Authorization: Bearer TOKEN",
            )
        } else {
            let base = Base::of(request.uri(), request.extensions());
            Redirect::to(&base.url("/login")).into_response()
        };
    };
    let reads_only = matches!(*request.method(), Method::GET | Method::HEAD);
    if !reads_only
        && credential != Credential::Bearer
        && !same_origin(headers, scheme(&app, headers))
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "refused: this request did not come from a page of this dashboard (Origin)",
        );
    }
    next.run(request).await
}

/// On every response: no other site may frame the pages (a click there
/// would pass the Origin check), load anything but our own script and
/// style, or guess content types. `Referrer-Policy: same-origin`, not
/// `no-referrer`: under `no-referrer` a browser sends `Origin: null` with
/// the page's own forms (login, logout), which the Origin check must
/// refuse; `same-origin` still tells other sites nothing (no queue name or
/// job id leaves in a `Referer`).
pub(super) async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    response
}

/// The request's credential, if any; `Err(wait)` while its address is
/// shut out for wrong tokens (see `throttle`). A wrong bearer token counts
/// as a wrong try; a stale cookie does not (a login id is no guess at the
/// token, and a restart leaves browsers with stale ones).
fn credential(
    app: &App,
    headers: &HeaderMap,
    token: &str,
    Client(ip): Client,
) -> Result<Option<Credential>, Duration> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(bearer) = bearer {
        app.throttle.check(ip)?;
        if same(bearer, token) {
            app.throttle.right(ip);
            return Ok(Some(Credential::Bearer));
        }
        if let Some(wait) = app.throttle.wrong(ip) {
            return Err(wait);
        }
    }
    Ok(cookie(headers)
        .filter(|id| app.sessions.is_live(id))
        .map(|_| Credential::Cookie))
}

/// The login cookie's value, if the request has one.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// 429: this address tried too many wrong tokens; `Retry-After` says when
/// it may try again.
fn too_many(wait: Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = refuse(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("too many wrong tokens from this address: try again in {secs} s"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    response
}

/// Compares in time that depends on neither where the two differ nor
/// whether their lengths do (it runs over the longer of the two). An
/// empty token matches nothing (`Bearer ` with nothing after it is no
/// proof).
fn same(given: &str, token: &str) -> bool {
    let (a, b) = (given.as_bytes(), token.as_bytes());
    let mut differ = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        differ |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    !b.is_empty() && differ == 0
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST)?.to_str().ok()
}

fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where the request came from (see [`Client`]). A mounted dashboard
/// served without `ConnectInfo` sees every client as one (the unspecified
/// address): its throttle then slows everyone down together.
fn client(app: &App, request: &Request) -> Client {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    // The proxy appends the address it saw last: what came before it, the
    // client may have written itself.
    let forwarded = || {
        let last = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .next_back()?;
        last.to_str().ok()?.rsplit(',').next()?.trim().parse().ok()
    };
    let ip = if app.behind_proxy {
        forwarded().or(peer)
    } else {
        peer
    };
    Client(ip.unwrap_or(IpAddr::from([0, 0, 0, 0])))
}

/// The scheme the browser used, when the dashboard can know it: only from
/// a proxy it was told to trust (`X-Forwarded-Proto`); else `None`.
fn scheme<'h>(app: &App, headers: &'h HeaderMap) -> Option<&'h str> {
    if !app.behind_proxy {
        return None;
    }
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok());
    Some(match proto.map(str::trim) {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    })
}

/// Whether the `Origin` is this dashboard itself, as the browser reached
/// it (with `scheme`, when known). `Origin: null` passes only with
/// `Sec-Fetch-Site: same-origin`: a browser may send `null` for its own
/// page's form (under a stricter referrer policy of the app that mounted
/// us, or the user's), and `Sec-Fetch-*` is set by the browser alone: no
/// page can forge it, and a program forging it holds no victim's cookie.
fn same_origin(headers: &HeaderMap, scheme: Option<&str>) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if origin == Some("null") {
        return fetch_site == Some("same-origin");
    }
    let (Some(origin), Some(host)) = (origin, host(headers)) else {
        return false;
    };
    let rest = match scheme {
        Some(scheme) => origin
            .strip_prefix(scheme)
            .and_then(|o| o.strip_prefix("://")),
        None => origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://")),
    };
    rest == Some(host)
}

/// What the login form posts.
#[derive(serde::Deserialize)]
pub(super) struct LoginForm {
    token: String,
}

/// The login form's POST: the right token starts a login (see `sessions`)
/// whose id the cookie holds, for the dashboard's paths only. Wrong ones
/// count against the address (see `throttle`).
pub(super) async fn login(
    State(app): State<App>,
    Extension(Client(ip)): Extension<Client>,
    base: Base,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(token) = &app.token else {
        return Redirect::to(base.home()).into_response();
    };
    let shut_out = |wait: Duration| {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let why = format!("Too many wrong tokens from your address: try again in {secs} s.");
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.to_string())],
            pages::login_page(&base, Some(&why)),
        )
            .into_response()
    };
    if let Err(wait) = app.throttle.check(ip) {
        return shut_out(wait);
    }
    if !same(&form.token, token) {
        if let Some(wait) = app.throttle.wrong(ip) {
            return shut_out(wait);
        }
        return (
            StatusCode::UNAUTHORIZED,
            pages::login_page(&base, Some("That is not the token.")),
        )
            .into_response();
    }
    app.throttle.right(ip);
    let secure = if scheme(&app, &headers) == Some("https") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={}; Path={}; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        app.sessions.start(),
        base.cookie_path(),
        sessions::LIFETIME.as_secs(),
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, base.home().to_string()),
        ],
        Body::empty(),
    )
        .into_response()
}

/// Ends this browser's login (its cookie opens nothing any more, wherever
/// it was copied to) and clears the cookie.
pub(super) async fn logout(State(app): State<App>, base: Base, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers) {
        app.sessions.end(id);
    }
    let cookie = format!(
        "{COOKIE}=; Path={}; HttpOnly; SameSite=Strict; Max-Age=0",
        base.cookie_path()
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, base.url("/login")),
        ],
        Body::empty(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1:7070",
            "localhost:7070",
            "[::1]:7070",
            "localhost",
            "127.0.0.2:1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example:7070",
            "10.0.0.1:7070",
            "[2001:db8::1]:80",
            "localhost.evil:1",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abd", "abc"));
        assert!(!same("ab", "abc"));
        assert!(!same("", "abc"));
        assert!(!same("", ""), "an empty token lets nobody in");
        assert!(!same("abcd", "abc"), "a longer guess is no match");
    }

    #[test]
    fn origins() {
        let with = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, "d.example:7070".parse().unwrap());
            for (name, value) in pairs {
                h.insert(*name, value.parse().unwrap());
            }
            h
        };
        let own = with(&[("origin", "http://d.example:7070")]);
        assert!(same_origin(&own, None));
        assert!(same_origin(&own, Some("http")));
        assert!(!same_origin(&own, Some("https")), "the proxy says https");
        let tls = with(&[("origin", "https://d.example:7070")]);
        assert!(same_origin(&tls, Some("https")));
        assert!(!same_origin(
            &with(&[("origin", "http://evil.example")]),
            None
        ));
        assert!(!same_origin(&with(&[]), None), "no Origin");
        assert!(!same_origin(&with(&[("origin", "null")]), None));
        let null_same = with(&[("origin", "null"), ("sec-fetch-site", "same-origin")]);
        assert!(same_origin(&null_same, None));
        let null_cross = with(&[("origin", "null"), ("sec-fetch-site", "cross-site")]);
        assert!(!same_origin(&null_cross, None));
    }
}
