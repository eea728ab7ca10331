//! URLs the worker sends people to or posts to: a tenant's `link_base_url` (the page an
//! emailed link opens), an app mailer's webhook URL, a tenant's `redirect_uris` (where a
//! third-party sign-in returns) and the URLs of an identity provider (its issuer and
//! endpoints, the only places the worker calls for it).
//!
//! Both are `https`, or `http` on a loopback host (`127.0.0.1`, `[::1]`, `localhost`) for
//! development (RFC 8252's rule for native apps, which `API.md` adopts). A link is
//! `<link_base_url>?type=<type>&token=<token>`, so a link base carries no query of its own.
//! Parsing is the only way to get a `WebUrl`; nothing here does I/O.

use super::Error;
use serde::Serialize;
use std::fmt;

/// Longest URL accepted.
pub const MAX_URL_BYTES: usize = 2048;

/// Hosts on which plain `http` is allowed.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "[::1]", "localhost"];

/// An absolute `https` URL, or an `http` URL of a loopback host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct WebUrl(String);

impl WebUrl {
    /// A tenant's link base: no query and no fragment, since links append `?type=…&token=…`.
    pub fn parse_link_base(raw: &str) -> Result<Self, Error> {
        let url = Self::parse(raw, "link_base_url")?;
        if url.0.contains('?') {
            return Err(Error::validation("link_base_url must not have a query"));
        }
        Ok(url)
    }

    /// A mailer's webhook URL (a query is allowed; a fragment is not). The worker posts to
    /// it, so an `https` one must not name a private address (`outbound`).
    pub fn parse_webhook(raw: &str) -> Result<Self, Error> {
        Self::parse(raw, "url")?.outbound("url")
    }

    /// A redirect URI of a tenant's third-party sign-in (a query is allowed; a fragment is not,
    /// RFC 6749 §3.1.2). Compared byte for byte with the one a flow names.
    pub fn parse_redirect_uri(raw: &str) -> Result<Self, Error> {
        Self::parse(raw, "redirect_uri")
    }

    /// A URL of an identity provider, named `field` in errors (`issuer`, `token_endpoint`, …).
    /// The worker calls it, so an `https` one must not name a private address (`outbound`);
    /// an `issuer` or `enterprise_url` has no query either (OpenID Connect Discovery §4: the
    /// well-known path is appended to it).
    pub fn parse_provider_url(raw: &str, field: &str) -> Result<Self, Error> {
        let url = Self::parse(raw, field)?.outbound(field)?;
        if matches!(field, "issuer" | "enterprise_url") && url.0.contains('?') {
            return Err(Error::validation(format!("{field} must not have a query")));
        }
        Ok(url)
    }

    /// This URL, unless it is an `https` URL of a host the worker must not call: an IP
    /// literal of a loopback, private, link-local, shared or unspecified range, `localhost`,
    /// or a number a URL parser would read as an IPv4 address (`2130706433`, `0x7f.1`).
    /// Names that resolve to such addresses cannot be checked here (no DNS in the worker);
    /// Cloudflare's `fetch` does not reach private networks. Loopback `http` stays allowed
    /// for development, as `API.md` says.
    fn outbound(self, field: &str) -> Result<Self, Error> {
        if !self.is_https() {
            return Ok(self);
        }
        let rest = &self.0["https://".len()..];
        let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
        let private = host_of(authority).is_none_or(is_private_host);
        if private {
            return Err(Error::validation(format!(
                "{field} must not name a loopback, private or link-local address"
            )));
        }
        Ok(self)
    }

    /// True for an `https` URL (not a loopback `http` one).
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// This URL with `pairs` appended as its query (after the URL's own query, if any), each
    /// name and value form-encoded.
    pub fn with_query(&self, pairs: &[(&str, &str)]) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        let separator = if self.0.contains('?') { '&' } else { '?' };
        format!("{}{separator}{}", self.0, query.finish())
    }

    fn parse(raw: &str, field: &str) -> Result<Self, Error> {
        let invalid = || {
            Error::validation(format!(
                "{field} must be an https URL (or http on 127.0.0.1, [::1] or localhost), \
                 without credentials or fragment, at most {MAX_URL_BYTES} bytes"
            ))
        };
        if raw.len() > MAX_URL_BYTES
            || raw
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '#' || c == '\\')
        {
            return Err(invalid());
        }
        let (scheme, rest) = raw.split_once("://").ok_or_else(invalid)?;
        let scheme = scheme.to_ascii_lowercase();
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(invalid());
        }
        let authority = authority.to_ascii_lowercase();
        let host = host_of(&authority).ok_or_else(invalid)?;
        let allowed = match scheme.as_str() {
            "https" => true,
            "http" => LOOPBACK_HOSTS.contains(&host),
            _ => false,
        };
        if !allowed {
            return Err(invalid());
        }
        Ok(WebUrl(format!("{scheme}://{authority}{path}")))
    }

    /// The host (with its port, if any) of this URL, for a person to read.
    pub fn authority(&self) -> &str {
        let rest = self.0.split_once("://").map_or("", |(_, rest)| rest);
        &rest[..rest.find(['/', '?']).unwrap_or(rest.len())]
    }

    /// The origin (`scheme://authority`) of this URL.
    pub fn origin(&self) -> String {
        let scheme = self.0.split_once("://").map_or("", |(scheme, _)| scheme);
        format!("{scheme}://{}", self.authority())
    }

    /// This URL with the port of a loopback IP host taken out (RFC 8252 §7.3: a native app's
    /// loopback redirect may use any port), and the URL unchanged otherwise.
    pub fn without_loopback_port(&self) -> String {
        let (scheme, rest) = self.0.split_once("://").unwrap_or(("", &self.0));
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        for host in ["127.0.0.1", "[::1]"] {
            if let Some(port) = authority
                .strip_prefix(host)
                .and_then(|p| p.strip_prefix(':'))
            {
                if !port.is_empty() && scheme == "http" {
                    return format!("{scheme}://{host}{tail}");
                }
            }
        }
        self.0.clone()
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads a URL that was checked before it was stored (a row that fails is corrupt).
    pub fn from_stored(raw: &str) -> Option<Self> {
        Self::parse(raw, "stored URL").ok()
    }

    /// The link `<base>?type=<kind>&token=<token>`; `kind` and `token` are URL-safe already.
    pub fn link(&self, kind: &str, token: &str) -> String {
        format!("{}?type={kind}&token={token}", self.0)
    }
}

impl fmt::Display for WebUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The host of an authority (`host[:port]`, `[v6][:port]`), when both parts are well formed.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let inside = &rest[..end];
        let is_v6 = !inside.is_empty()
            && inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        if !is_v6 {
            return None;
        }
        let port = match &rest[end + 1..] {
            "" => None,
            after => Some(after.strip_prefix(':')?),
        };
        (&authority[..end + 2], port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let is_name = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && !host.split('.').any(str::is_empty);
        if !is_name {
            return None;
        }
        (host, port)
    };
    let port_ok = port.is_none_or(|p| {
        p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65_535).contains(&n))
    });
    port_ok.then_some(host)
}

/// True for a host the worker must not call (see `WebUrl::outbound`).
fn is_private_host(host: &str) -> bool {
    use std::net::{Ipv4Addr, Ipv6Addr};
    fn private_v4(ip: Ipv4Addr) -> bool {
        let [a, b, ..] = ip.octets();
        ip.is_private()
            || ip.is_loopback()
            || ip.is_link_local()
            || ip.is_unspecified()
            || ip.is_broadcast()
            || a == 0
            || (a == 100 && (b & 0xc0) == 64)
    }
    if let Some(inside) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let Ok(ip) = inside.parse::<Ipv6Addr>() else {
            return true;
        };
        let first = ip.segments()[0];
        return ip.is_loopback()
            || ip.is_unspecified()
            || (first & 0xfe00) == 0xfc00
            || (first & 0xffc0) == 0xfe80
            || ip.to_ipv4_mapped().is_some_and(private_v4);
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    // WHATWG URL parsing reads a host whose last label is a number as an IPv4 address, in
    // any of its spellings: only the canonical dotted quad of a public address passes.
    let last = host.rsplit('.').next().unwrap_or(host);
    let numeric = !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit())
            || last.starts_with("0x")
            || last.starts_with("0X"));
    if numeric {
        return host.parse::<Ipv4Addr>().map_or(true, private_v4);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_urls_refuse_private_addresses_in_every_spelling() {
        for bad in [
            "https://10.0.0.5/x",
            "https://127.0.0.1/",
            "https://169.254.169.254/latest",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://localhost/",
            "https://api.localhost/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://127.1/",
            "https://010.0.0.1/",
        ] {
            assert!(
                WebUrl::parse_webhook(bad).is_err(),
                "{bad} should be refused"
            );
            assert!(
                WebUrl::parse_provider_url(bad, "issuer").is_err(),
                "{bad} should be refused"
            );
        }
        for ok in [
            "https://mailer.example.com/hook",
            "https://8.8.8.8/hook",
            "https://[2001:4860::8888]/hook",
            "http://127.0.0.1:9000/hook",
            "http://localhost:9000/hook",
        ] {
            assert!(WebUrl::parse_webhook(ok).is_ok(), "{ok} should parse");
        }
        // Links people follow are not called by the worker: a private address is the
        // operator's business there.
        assert!(WebUrl::parse_redirect_uri("https://192.168.1.1/cb").is_ok());
        // An issuer's well-known path is appended: no query may push it aside.
        assert!(WebUrl::parse_provider_url("https://idp.example/x?", "issuer").is_err());
        assert!(
            WebUrl::parse_provider_url("https://idp.example/token?a=1", "token_endpoint").is_ok()
        );
    }

    #[test]
    fn https_anywhere_and_http_only_on_loopback() {
        for ok in [
            "https://app.example.com/verify",
            "https://app.example.com",
            "HTTPS://App.Example.com:8443/a/b",
            "http://127.0.0.1:5173/cb",
            "http://localhost/cb",
            "http://[::1]:8080/cb",
        ] {
            assert!(WebUrl::parse_link_base(ok).is_ok(), "{ok} should parse");
        }
        for bad in [
            "http://app.example.com/verify",
            "http://127.0.0.2/",
            "http://localhost.evil.com/",
            "ftp://app.example.com/",
            "https://",
            "https://user:pw@app.example.com/",
            "https://app.example.com/#frag",
            "https://app..example.com/",
            "https://app.example.com:0/",
            "https://app.example.com:99999/",
            "https://app.example.com/ space",
            "https://[::1/",
            "app.example.com/verify",
            "",
        ] {
            assert!(
                WebUrl::parse_link_base(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(
            WebUrl::parse_link_base(&format!("https://a.example/{}", "x".repeat(2048))).is_err()
        );
    }

    #[test]
    fn a_link_base_has_no_query_but_a_webhook_may() {
        assert!(WebUrl::parse_link_base("https://app.example.com/v?x=1").is_err());
        assert!(WebUrl::parse_webhook("https://mail.example.com/hook?k=1").is_ok());
        assert!(WebUrl::parse_webhook("http://mail.example.com/hook").is_err());
    }

    #[test]
    fn redirect_uris_may_carry_a_query_and_queries_are_appended_encoded() {
        let uri = WebUrl::parse_redirect_uri("https://app.example/cb?from=x").unwrap();
        assert_eq!(
            uri.with_query(&[("state", "a b&c")]),
            "https://app.example/cb?from=x&state=a+b%26c"
        );
        let plain = WebUrl::parse_redirect_uri("http://127.0.0.1:3000/cb").unwrap();
        assert_eq!(
            plain.with_query(&[("a", "1")]),
            "http://127.0.0.1:3000/cb?a=1"
        );
        assert!(!plain.is_https());
        assert!(WebUrl::parse_redirect_uri("http://app.example/cb").is_err());
        assert!(WebUrl::parse_redirect_uri("https://app.example/cb#x").is_err());
    }

    #[test]
    fn scheme_and_host_are_lower_cased_and_links_append_type_and_token() {
        let base = WebUrl::parse_link_base("HTTPS://App.Example.com/Verify").unwrap();
        assert_eq!(base.as_str(), "https://app.example.com/Verify");
        assert_eq!(
            base.link("password_reset", "tsl_abc"),
            "https://app.example.com/Verify?type=password_reset&token=tsl_abc"
        );
        assert_eq!(WebUrl::from_stored(base.as_str()), Some(base));
    }
}
