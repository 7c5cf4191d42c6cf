//! Where the dashboard is mounted ([`Base`]), learnt from each request, so
//! that nothing needs configuring: an app that nests the router at
//! `/admin/queues` hands it requests with that much of the path cut off
//! (axum's `nest`), and the whole original URI beside them
//! ([`OriginalUri`]). Every link, form, asset, API call, redirect and
//! cookie path the dashboard writes starts with what was cut.

use axum::extract::{FromRequestParts, NestedPath, OriginalUri};
use axum::http::request::Parts;
use axum::http::{Extensions, Uri};
use std::convert::Infallible;

/// The mount point of the request at hand: `""` at the root of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Base {
    /// Prepended to each of the dashboard's own paths; never ends in `/`.
    prefix: String,
    /// The overview's path: the prefix itself (`nest("/admin/queues")`
    /// answers `/admin/queues`, not `/admin/queues/`), with its slash when
    /// the app nested the router at a path ending in one; `/` at the root.
    home: String,
}

impl Base {
    /// The mount point of a request whose path, as the dashboard's router
    /// sees it, is `uri`'s.
    pub(crate) fn of(uri: &Uri, extensions: &Extensions) -> Base {
        let inner = uri.path();
        let outer = extensions
            .get::<OriginalUri>()
            .map_or(inner, |original| original.0.path());
        let cut = match outer.strip_suffix(inner) {
            Some(cut) => cut,
            // `nest` hands `/admin/queues` in as `/`.
            None if inner == "/" => outer,
            // Not a prefix cut off (a rewrite of another kind): the root.
            None => "",
        };
        // One leading slash: `//host` would be a URL of another site.
        let prefix = match cut.trim_matches('/') {
            "" => String::new(),
            inner => format!("/{inner}"),
        };
        let slash = extensions
            .get::<NestedPath>()
            .is_some_and(|nested| nested.as_str().ends_with('/'));
        let home = if prefix.is_empty() || slash {
            format!("{prefix}/")
        } else {
            prefix.clone()
        };
        Base { prefix, home }
    }

    /// The dashboard's own `path` (which starts with `/`), under the mount
    /// point.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// The overview's path.
    pub(crate) fn home(&self) -> &str {
        &self.home
    }

    /// What the page script puts before each path: `""` at the root.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The `Path` of the login cookie: the mount point (`/` at the root),
    /// so that the cookie goes to the dashboard and nowhere else in the
    /// app. A `;` would end the attribute: written as `%3B`.
    pub(crate) fn cookie_path(&self) -> String {
        match self.prefix.as_str() {
            "" => "/".into(),
            prefix => prefix.replace(';', "%3B"),
        }
    }
}

/// Any handler can ask for the mount point.
impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Base, Infallible> {
        Ok(Base::of(&parts.uri, &parts.extensions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(original: &str, inner: &str) -> Base {
        let mut extensions = Extensions::new();
        extensions.insert(OriginalUri(original.parse().unwrap()));
        Base::of(&inner.parse().unwrap(), &extensions)
    }

    #[test]
    fn at_the_root_nothing_is_prefixed() {
        let root = Base::of(&"/queues/q".parse().unwrap(), &Extensions::new());
        assert_eq!(
            (root.url("/api/live"), root.home(), root.cookie_path()),
            ("/api/live".to_string(), "/", "/".to_string())
        );
        assert_eq!(base("/queues/q", "/queues/q"), root);
    }

    #[test]
    fn nested_the_cut_prefix_comes_first() {
        let b = base("/admin/queues/queues/q%2Fx", "/queues/q%2Fx");
        assert_eq!(b.url("/api/live"), "/admin/queues/api/live");
        assert_eq!(b.home(), "/admin/queues");
        assert_eq!(b.cookie_path(), "/admin/queues");
        assert_eq!(base("/admin/queues", "/"), b);
        assert_eq!(base("/admin/queues/", "/"), b);
    }

    #[test]
    fn a_prefix_never_names_another_host_or_ends_the_cookie() {
        assert_eq!(
            base("//evil.example/queues/q", "/queues/q").url("/x"),
            "/evil.example/x"
        );
        assert_eq!(
            base("/a;Domain=x/queues/q", "/queues/q").cookie_path(),
            "/a%3BDomain=x"
        );
    }
}
