//! `application/x-www-form-urlencoded` bodies: the same pairs as `form_urlencoded::parse`,
//! without its per-byte work when there is nothing to decode.
//!
//! `form_urlencoded::parse` checks each name and value for `+` and `%` and then validates its
//! UTF-8 byte by byte (`String::from_utf8_lossy`) — a few per cent of a cold introspection's
//! isolate time, for a body (`token=<a base64url JWT>`) that holds neither `+` nor `%`. Such a
//! body, once known to be UTF-8 (validated a word at a time), is its own decoding: its pairs
//! are borrowed slices. Anything else goes to `form_urlencoded::parse` unchanged, so the
//! answer is the same for every body (a property test below holds the two together).
//! Native and pure, so it is tested natively.

use std::borrow::Cow;

/// The body's `(name, value)` pairs in order, decoded exactly as `form_urlencoded::parse`
/// decodes them: empty pairs skipped, a pair without `=` a name with an empty value, `+` a
/// space, `%XX` a byte, invalid UTF-8 replaced.
pub fn pairs(body: &[u8]) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    let plain = if body.iter().any(|&b| b == b'+' || b == b'%') {
        None
    } else {
        std::str::from_utf8(body).ok()
    };
    let (plain, encoded) = match plain {
        Some(text) => (Some(text.split('&').filter(|pair| !pair.is_empty())), None),
        None => (None, Some(form_urlencoded::parse(body))),
    };
    let plain = plain.into_iter().flatten().map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (Cow::Borrowed(name), Cow::Borrowed(value))
    });
    plain.chain(encoded.into_iter().flatten())
}

#[cfg(test)]
mod tests {
    use super::pairs;
    use proptest::prelude::*;

    type Pairs = Vec<(String, String)>;

    /// `pairs` and `form_urlencoded::parse` of the same body.
    fn both(body: &[u8]) -> (Pairs, Pairs) {
        let owned = |(n, v): (std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)| {
            (n.into_owned(), v.into_owned())
        };
        (
            pairs(body).map(owned).collect(),
            form_urlencoded::parse(body).map(owned).collect(),
        )
    }

    #[test]
    fn a_plain_body_is_read_without_decoding() {
        let body = b"token=eyJhbGciOiJFZERTQSJ9.e30.c2ln_-&token_type_hint=access_token";
        assert_eq!(
            both(body).0,
            vec![
                ("token".into(), "eyJhbGciOiJFZERTQSJ9.e30.c2ln_-".into()),
                ("token_type_hint".into(), "access_token".into()),
            ]
        );
        assert!(pairs(body).all(|(n, v)| matches!(
            (n, v),
            (std::borrow::Cow::Borrowed(_), std::borrow::Cow::Borrowed(_))
        )));
    }

    #[test]
    fn edge_cases_agree_with_form_urlencoded() {
        for body in [
            &b""[..],
            b"&",
            b"&&a=1&&",
            b"a",
            b"a=",
            b"=b",
            b"a=b=c",
            b"a=1&a=2",
            b"a+b=c+d",
            b"a%20b=%e2%82%ac",
            b"bad%zz=%",
            b"x=\xff\xfe",
            b"caf\xc3\xa9=th\xc3\xa9",
            b"x=%ff",
            b"=",
            b"\xc3",
            b"\xef\xbb\xbfa=1",
            b"a\0=\0b",
            b"a=1;b=2",
        ] {
            let (mine, theirs) = both(body);
            assert_eq!(mine, theirs, "{:?}", String::from_utf8_lossy(body));
        }
    }

    proptest! {
        #[test]
        fn every_body_agrees_with_form_urlencoded(
            body in proptest::collection::vec(
                prop_oneof![
                    Just(b'&'), Just(b'='), Just(b'+'), Just(b'%'), Just(b'a'), Just(b'Z'),
                    Just(b'0'), Just(b'f'), Just(b'.'), Just(b'-'), Just(b'_'), Just(b' '),
                    Just(0xc3u8), Just(0xa9u8), Just(0xffu8), any::<u8>(),
                ],
                0..40,
            )
        ) {
            let (mine, theirs) = both(&body);
            prop_assert_eq!(mine, theirs);
        }

        /// Bodies that always take the fast path (UTF-8, no `+` or `%`), multibyte
        /// characters included: the same pairs, every one borrowed.
        #[test]
        fn plain_bodies_agree_and_are_borrowed(
            body in "([a&=.é€\u{1F600}\u{0}_-]){0,40}"
        ) {
            let (mine, theirs) = both(body.as_bytes());
            prop_assert_eq!(mine, theirs);
            prop_assert!(pairs(body.as_bytes()).all(|(n, v)| matches!(
                (n, v),
                (std::borrow::Cow::Borrowed(_), std::borrow::Cow::Borrowed(_))
            )));
        }
    }
}
