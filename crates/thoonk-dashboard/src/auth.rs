//! Who may come in, and from where: the token (a bearer header or the
//! login cookie), loopback host names when told so, the `Origin` of
//! anything that changes state, and the headers that keep other sites from
//! framing or scripting the pages.

use super::app::{refuse, App};
use super::base::Base;
use super::pages;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

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

/// Every request passes here: the `Host` (when told to answer loopback
/// names only), the token (when there is one), and the `Origin` of
/// anything that changes state. Paths are the dashboard's own: an app that
/// mounted it cut its prefix off already.
pub(super) async fn guard(State(app): State<App>, request: Request, next: Next) -> Response {
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
        Some(token) => credential(headers, token, &app.session),
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
    if !reads_only && credential != Credential::Bearer && !same_origin(headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "refused: this request did not come from a page of this dashboard (Origin)",
        );
    }
    next.run(request).await
}

/// On every response: no other site may frame the pages (a click there
/// would pass the Origin check), load anything but our own script and
/// style, or guess content types.
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
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    response
}

fn credential(headers: &HeaderMap, token: &str, session: &str) -> Option<Credential> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer.is_some_and(|b| same(b, token)) {
        return Some(Credential::Bearer);
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='));
    cookie
        .filter(|c| same(c, session))
        .map(|_| Credential::Cookie)
}

/// Compares in time that does not depend on where the two differ. An
/// empty token matches nothing (`Bearer ` with nothing after it is no
/// proof).
fn same(given: &str, token: &str) -> bool {
    let (a, b) = (given.as_bytes(), token.as_bytes());
    !b.is_empty()
        && a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

/// Whether the `Origin` is this dashboard itself, as the browser reached it.
fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match (origin, host(headers)) {
        (Some(origin), Some(host)) => {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                == Some(host)
        }
        _ => false,
    }
}

/// What the login form posts.
#[derive(serde::Deserialize)]
pub(super) struct LoginForm {
    token: String,
}

/// The login form's POST: the right token sets the cookie, for the
/// dashboard's paths only.
pub(super) async fn login(
    State(app): State<App>,
    base: Base,
    Form(form): Form<LoginForm>,
) -> Response {
    match &app.token {
        Some(token) if same(&form.token, token) => {
            let cookie = format!(
                "{COOKIE}={}; Path={}; HttpOnly; SameSite=Strict",
                app.session,
                base.cookie_path()
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
        Some(_) => (
            StatusCode::UNAUTHORIZED,
            pages::login_page(&base, Some("That is not the token.")),
        )
            .into_response(),
        None => Redirect::to(base.home()).into_response(),
    }
}

pub(super) async fn logout(base: Base) -> Response {
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
    }
}
