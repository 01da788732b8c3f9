//! The admin API's bearer token: `Authorization: Bearer <admin_token>`,
//! compared in constant time (pure).

use hyper::header::HeaderValue;

use super::super::rejection::Rejection;

/// Lets the request through when its `Authorization` is `Bearer <token>`
/// with `token` equal to `expected`.
///
/// # Errors
/// 401 `unauthorized`, saying what was missing or wrong.
pub(super) fn authorize(expected: &str, header: Option<&HeaderValue>) -> Result<(), Rejection> {
    let header = header.ok_or(Rejection::Unauthorized(
        "this route needs the header Authorization: Bearer <admin_token>",
    ))?;
    let bearer = header
        .to_str()
        .ok()
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim_start_matches(' '));
    match bearer {
        None => Err(Rejection::Unauthorized(
            "Authorization must be Bearer <admin_token>",
        )),
        Some(token) if same(token.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(Rejection::Unauthorized(
            "the bearer token is not this balancer's admin_token",
        )),
    }
}

/// Whether `given` equals `expected`, in a time that depends on their
/// lengths only, never on where they first differ, so the token cannot
/// be guessed a byte at a time by timing answers. The length itself is
/// not hidden; the token's strength is in its bytes. A hand-written loop
/// rather than the `subtle` or `constant_time_eq` crates: one function
/// does not warrant a dependency, and `black_box` keeps the compiler
/// from ending the loop early.
fn same(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    let differ = given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| std::hint::black_box(acc | (a ^ b)));
    differ == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_let_through() {
        let header = |v: &'static str| HeaderValue::from_static(v);
        authorize("s3cret", Some(&header("Bearer s3cret"))).unwrap();
        authorize("s3cret", Some(&header("bearer  s3cret"))).unwrap();
        for wrong in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Bearer S3CRET",
            "Bearer",
            "Bearer ",
            "Basic czNjcmV0",
            "s3cret",
        ] {
            let e = authorize("s3cret", Some(&header(wrong))).unwrap_err();
            assert_eq!(e.status_and_code().0.as_u16(), 401, "{wrong}");
            assert!(!e.to_string().contains("s3cret"), "{e}");
        }
        let e = authorize("s3cret", None).unwrap_err();
        assert!(e.to_string().contains("Authorization: Bearer"), "{e}");
        let bytes = HeaderValue::from_bytes(b"Bearer s3cr\xe9t").unwrap();
        assert!(authorize("s3cret", Some(&bytes)).is_err());
    }

    #[test]
    fn tokens_are_compared_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(same(b"", b""));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"bbc"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"abc", b""));
    }
}
