//! What a handler's success finishes its job with ([`Output`]): nothing,
//! text, bytes, or a value as JSON ([`Json`]).

use super::Failure;
use serde::Serialize;

/// What a handler may return on success: the job is finished with it as
/// its result, which reaches whoever awaits the job
/// ([`Queue::publish_and_wait`](crate::Queue::publish_and_wait)).
///
/// - `()` finishes the job without a result (v1's finish event carries
///   the id alone);
/// - `String`, `&str`, `Vec<u8>`, `&[u8]` are the result as they are;
/// - [`Json`]`(value)` is the value encoded as JSON;
/// - `Option<T>`: `None` finishes without a result.
///
/// A typed worker ([`Worker::run_json`](crate::Worker::run_json)) encodes
/// whatever its handler returns as JSON by itself.
pub trait Output {
    /// The result to finish the job with, if any. A value that cannot be
    /// encoded fails the job for good (running it again would not mend
    /// that).
    fn into_result(self) -> Result<Option<Vec<u8>>, Failure>;
}

/// A value to finish a job with as JSON: `Ok(Json(receipt))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize> Output for Json<T> {
    fn into_result(self) -> Result<Option<Vec<u8>>, Failure> {
        serde_json::to_vec(&self.0)
            .map(Some)
            .map_err(|e| Failure::permanent(format!("the result does not encode as JSON: {e}")))
    }
}

impl Output for () {
    fn into_result(self) -> Result<Option<Vec<u8>>, Failure> {
        Ok(None)
    }
}

impl<T: Output> Output for Option<T> {
    fn into_result(self) -> Result<Option<Vec<u8>>, Failure> {
        self.map_or(Ok(None), Output::into_result)
    }
}

macro_rules! output_as_bytes {
    ($($t:ty),*) => {$(
        impl Output for $t {
            fn into_result(self) -> Result<Option<Vec<u8>>, Failure> {
                Ok(Some(AsRef::<[u8]>::as_ref(&self).to_vec()))
            }
        }
    )*};
}
output_as_bytes!(String, &str, Vec<u8>, &[u8], Box<[u8]>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_become_results() {
        assert_eq!(().into_result(), Ok(None));
        assert_eq!("done".into_result(), Ok(Some(b"done".to_vec())));
        assert_eq!(String::new().into_result(), Ok(Some(Vec::new())));
        assert_eq!(vec![0u8, 1].into_result(), Ok(Some(vec![0, 1])));
        assert_eq!(None::<String>.into_result(), Ok(None));
        assert_eq!(Some("x").into_result(), Ok(Some(b"x".to_vec())));
        assert_eq!(
            Json(serde_json::json!({"sent": 2})).into_result(),
            Ok(Some(br#"{"sent":2}"#.to_vec()))
        );
        // A map with keys JSON cannot have: refused for good, not retried.
        let bad: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let failure = Json(bad).into_result().unwrap_err();
        assert!(!failure.comes_back());
        assert!(failure.reason().contains("JSON"), "{failure:?}");
    }
}
