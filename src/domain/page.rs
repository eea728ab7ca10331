//! Keyset pagination: `?limit=` and an opaque `?cursor=` that encodes the last key seen, so the
//! cost of a page does not grow with the number of rows before it.

use super::Error;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;

/// Page size when the client names none.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page a client may ask for.
pub const MAX_LIMIT: usize = 200;

/// A validated page request: how many rows, and after which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub after: Option<String>,
}

impl PageRequest {
    /// Parses `limit` (1..=200, default 50) and `cursor` from query values.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, Error> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| Error::validation(format!("limit must be 1 to {MAX_LIMIT}")))?,
        };
        let after = match cursor {
            None | Some("") => None,
            Some(raw) => Some(decode_cursor(raw)?),
        };
        Ok(PageRequest { limit, after })
    }
}

/// The opaque cursor for a key.
pub fn encode_cursor(key: &str) -> String {
    B64URL.encode(key.as_bytes())
}

fn decode_cursor(raw: &str) -> Result<String, Error> {
    B64URL
        .decode(raw)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|key| !key.is_empty() && key.len() <= 256)
        .ok_or_else(|| Error::validation("cursor is not valid"))
}

/// One page of a listing and the cursor of the next (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The same page with every item converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// Splits `rows` (fetched with `limit + 1`) into a page and the cursor of the next one, which
/// encodes the key of the page's last row.
pub fn finish_page<T>(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|last| encode_cursor(&key(last)))
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 50);
        assert_eq!(PageRequest::parse(Some("200"), None).unwrap().limit, 200);
        for bad in ["0", "201", "-1", "ten", ""] {
            assert!(PageRequest::parse(Some(bad), None).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = encode_cursor("acme");
        assert_eq!(
            PageRequest::parse(None, Some(&cursor))
                .unwrap()
                .after
                .as_deref(),
            Some("acme")
        );
        assert!(PageRequest::parse(None, Some("!!!")).is_err());
    }

    #[test]
    fn a_full_page_carries_the_next_cursor() {
        let page = finish_page(vec!["a", "b", "c"], 2, |s| s.to_string());
        assert_eq!(page.items, vec!["a", "b"]);
        assert_eq!(page.next_cursor, Some(encode_cursor("b")));
        let page = finish_page(vec!["a"], 2, |s| s.to_string());
        assert_eq!((page.items.len(), page.next_cursor), (1, None));
    }
}
