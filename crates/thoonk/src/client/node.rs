//! The client of one node from its URL: TLS with ring and an optional CA
//! of the user's, and the URL as messages show it (passwords hidden).

/// The client of one node at `url`; with `ca_pem`, over TLS trusting only
/// that CA. Every connection to the node (ordinary, blocking, pub/sub) is
/// made from it, so all of them use the same TLS settings.
pub(super) fn node_client(url: &str, ca_pem: Option<&[u8]>) -> redis::RedisResult<redis::Client> {
    if is_tls(url) {
        use_ring_for_tls();
    }
    match ca_pem {
        None => redis::Client::open(url),
        Some(_) if !is_tls(url) => Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "a TLS CA was given, but the URL is not rediss://",
        ))),
        Some(pem) => redis::Client::build_with_tls(url, trusting(pem)?),
    }
}

/// Certificates that trust exactly the CAs in `ca_pem`. A file without a
/// single certificate is refused here: otherwise every connection would fail
/// later, with an error about the server's certificate.
pub(super) fn trusting(ca_pem: &[u8]) -> redis::RedisResult<redis::TlsCertificates> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    if CertificateDer::pem_slice_iter(ca_pem).next().is_none() {
        return Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "the TLS CA holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        )));
    }
    Ok(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(ca_pem.to_vec()),
    })
}

fn is_tls(url: &str) -> bool {
    url.get(..9)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("rediss://"))
}

/// rustls needs a crypto provider chosen for the process. Ours is ring; a
/// program that chose one before keeps its own (the install then fails,
/// harmlessly).
fn use_ring_for_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `redis://user:secret@host/` -> `redis://user:***@host/`; also the
/// `pass=` of a `redis+unix:///path?pass=secret` URL. When in doubt it hides
/// more: everything up to the last `@`, which may be in a password.
pub(super) fn hide_password(url: &str) -> String {
    // Without a scheme (a mistake, but it reaches the error message too).
    let start = url.find("://").map_or(0, |s| s + 3);
    let mut shown = match url[start..].rfind('@') {
        Some(at) => {
            let (scheme, userinfo, rest) =
                (&url[..start], &url[start..start + at], &url[start + at..]);
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}{user}:***{rest}"),
                None => format!("{scheme}***{rest}"),
            }
        }
        None => url.to_string(),
    };
    if let Some((before, query)) = shown.split_once('?') {
        let query = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key == "pass" || key == "password" => format!("{key}=***"),
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&");
        shown = format!("{before}?{query}");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::hide_password;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            hide_password("redis://127.0.0.1:7/"),
            "redis://127.0.0.1:7/"
        );
        assert_eq!(hide_password("redis://u:pw@h:1/"), "redis://u:***@h:1/");
        assert_eq!(hide_password("redis://pw@h/"), "redis://***@h/");
        assert_eq!(hide_password("rediss://:pw@h/"), "rediss://:***@h/");
        assert_eq!(hide_password("redis://u:p@w:d@h/"), "redis://u:***@h/");
        assert_eq!(hide_password("redis://u:p/w@h/"), "redis://u:***@h/");
        assert_eq!(hide_password("u:pw@h:1"), "u:***@h:1");
        assert_eq!(
            hide_password("redis+unix:///tmp/r.sock?db=1&pass=pw&user=u"),
            "redis+unix:///tmp/r.sock?db=1&pass=***&user=u"
        );
    }
}
