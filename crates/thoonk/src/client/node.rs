//! The client of one node from its URL: TLS (aws-lc-rs) and an optional CA
//! of the user's, and the URL as messages show it (passwords hidden).

use crate::Error;

/// The client of one node at `url`; with `ca_pem`, over TLS trusting only
/// that CA. Every connection to the node (ordinary, blocking, pub/sub) is
/// made from it, so all of them use the same TLS settings.
pub(super) fn node_client(url: &str, ca_pem: Option<&[u8]>) -> Result<redis::Client, Error> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: hide_password(url),
        reason,
    };
    if !url.contains("://") {
        return Err(invalid(format!(
            "it has no scheme: write redis://{url} (rediss:// for TLS, redis+unix:///PATH for a socket)"
        )));
    }
    if is_tls(url) {
        choose_tls_provider();
    }
    let client = match ca_pem {
        None => redis::Client::open(url),
        Some(_) if !is_tls(url) => {
            return Err(invalid(
                "a TLS CA was given, but the URL is not rediss://".into(),
            ))
        }
        Some(pem) => redis::Client::build_with_tls(url, trusting(url, pem)?),
    };
    client.map_err(|e| {
        invalid(format!(
            "{e} (expected redis://[USER:PASSWORD@]HOST[:PORT][/DB])"
        ))
    })
}

/// Certificates that trust exactly the CAs in `ca_pem`. A file without a
/// single certificate is refused here: otherwise every connection would fail
/// later, with an error about the server's certificate.
pub(super) fn trusting(url: &str, ca_pem: &[u8]) -> Result<redis::TlsCertificates, Error> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    if CertificateDer::pem_slice_iter(ca_pem).next().is_none() {
        return Err(Error::InvalidUrl {
            url: hide_password(url),
            reason: "the TLS CA holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        });
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

/// rustls needs a crypto provider chosen for the process. Ours is
/// aws-lc-rs (rustls's default, with post-quantum key exchange); a program
/// that chose one before keeps its own (the install then fails,
/// harmlessly).
fn choose_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
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
