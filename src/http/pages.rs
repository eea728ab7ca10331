//! The HTML pages of a tenant's authorization endpoint: sign-in, consent, and the error page
//! shown when a request cannot be sent back to its client. Plain HTML and one inline
//! stylesheet, served by the worker itself: no script, no third-party origin, and a strict
//! Content-Security-Policy (the stylesheet by its hash, forms only to this issuer and — since
//! browsers check the redirects that follow a form post too — the client's redirect origin).
//!
//! Pure and compiled on every target, so the escaping and the policy are tested natively.
//! Every value that reaches a page is escaped; a client's name is the client's to choose.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The one stylesheet of the pages (inline; allowed by its hash).
const STYLE: &str =
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1c1e21}\
main{max-width:26rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;\
box-shadow:0 1px 3px rgba(0,0,0,.15)}h1{font-size:1.3rem;margin:0 0 1rem}\
label{display:block;margin:.8rem 0 .2rem}input[type=email],input[type=password],\
input[type=text]{width:100%;\
padding:.5rem;box-sizing:border-box;border:1px solid #bbb;border-radius:4px}\
button{margin-top:1.2rem;padding:.55rem 1.2rem;border:0;border-radius:4px;background:#1f5fd1;\
color:#fff;font-size:1rem;cursor:pointer}button.secondary{background:#e4e6eb;color:#1c1e21;\
margin-left:.5rem}.error{color:#b00020}.muted{color:#606770;font-size:.9rem}ul{padding-left:1.2rem}\
hr{border:0;border-top:1px solid #e4e6eb;margin:1.5rem 0 .5rem}";

/// The `style-src` source of `STYLE`.
pub fn style_hash() -> String {
    format!("'sha256-{}'", B64.encode(Sha256::digest(STYLE.as_bytes())))
}

/// The Content-Security-Policy of a page whose forms post to `issuer_origin` and may end in a
/// redirect to one of `others` (the client's redirect origin, the tenant's providers').
pub fn content_security_policy(issuer_origin: &str, others: &[&str]) -> String {
    let mut form_action = format!("'self' {}", source(issuer_origin));
    for origin in others {
        form_action.push(' ');
        form_action.push_str(&source(origin));
    }
    format!(
        "default-src 'none'; style-src {}; form-action {form_action}; frame-ancestors 'none'; \
         base-uri 'none'",
        style_hash()
    )
}

/// An origin as a CSP source: only its characters that may appear in one (anything else
/// could end the directive).
fn source(origin: &str) -> String {
    origin
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '.' | '-' | '[' | ']'))
        .collect()
}

/// The origin (`scheme://authority`) of an absolute URL.
pub fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..scheme.len() + 3 + end])
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    )
}

/// What every form of the pages carries.
pub struct FormState<'a> {
    /// `{issuer}/oauth/authorize`.
    pub action: &'a str,
    pub csrf: &'a str,
    /// The authorization request (its original query).
    pub request: &'a str,
}

fn hidden(form: &FormState<'_>, step: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"request\" value=\"{}\">\
         <input type=\"hidden\" name=\"step\" value=\"{step}\">",
        escape(form.csrf),
        escape(form.request)
    )
}

/// The sign-in methods a tenant's sign-in page offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Methods<'a> {
    pub password: bool,
    pub passwordless: bool,
    /// The tenant's identity providers, by id.
    pub providers: &'a [String],
}

fn alert(error: Option<&str>) -> String {
    error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default()
}

/// The sign-in page: email and password, and/or a code by email, as the tenant offers them,
/// with `error` from a failed attempt.
pub fn sign_in(
    form: &FormState<'_>,
    client_name: &str,
    methods: Methods<'_>,
    error: Option<&str>,
) -> String {
    let password = if methods.password {
        format!(
            "<form method=\"post\" action=\"{action}\">{hidden}\
             <label for=\"email\">Email</label>\
             <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required>\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" \
             autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>",
            action = escape(form.action),
            hidden = hidden(form, "signin"),
        )
    } else {
        String::new()
    };
    let passwordless = if methods.passwordless {
        format!(
            "{rule}<form method=\"post\" action=\"{action}\">{hidden}\
             <label for=\"code-email\">{label}</label>\
             <input id=\"code-email\" name=\"email\" type=\"email\" autocomplete=\"email\" required>\
             <button type=\"submit\"{class}>Email me a code</button></form>",
            rule = if methods.password { "<hr>" } else { "" },
            label = if methods.password { "Or get a sign-in code by email" } else { "Email" },
            class = if methods.password { " class=\"secondary\"" } else { "" },
            action = escape(form.action),
            hidden = hidden(form, "passwordless"),
        )
    } else {
        String::new()
    };
    let providers = if methods.providers.is_empty() {
        String::new()
    } else {
        let buttons: String = methods
            .providers
            .iter()
            .map(|id| {
                format!(
                    "<button type=\"submit\" name=\"provider\" value=\"{id}\" \
                     class=\"secondary\">Continue with {id}</button>",
                    id = escape(id)
                )
            })
            .collect();
        format!(
            "{rule}<form method=\"post\" action=\"{action}\">{hidden}{buttons}</form>",
            rule = if methods.password || methods.passwordless {
                "<hr>"
            } else {
                ""
            },
            action = escape(form.action),
            hidden = hidden(form, "thirdparty"),
        )
    };
    let none = if methods.password || methods.passwordless || !methods.providers.is_empty() {
        ""
    } else {
        "<p>This service offers no way to sign in on this page.</p>"
    };
    let body = format!(
        "<h1>Sign in</h1><p class=\"muted\">to continue to {client}</p>{error}{password}{passwordless}{providers}{none}",
        client = escape(client_name),
        error = alert(error),
    );
    document("Sign in", &body)
}

/// The page that asks for the code a passwordless sign-in mailed to `email`.
pub fn code(
    form: &FormState<'_>,
    client_name: &str,
    email: &str,
    attempt_id: &str,
    error: Option<&str>,
) -> String {
    let body = format!(
        "<h1>Enter your code</h1><p class=\"muted\">to continue to {client}</p>{error}\
         <p>If <strong>{email}</strong> can sign in here, a 6-digit code is on its way there. \
         It works for 15 minutes.</p>\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <input type=\"hidden\" name=\"attempt_id\" value=\"{attempt}\">\
         <input type=\"hidden\" name=\"email\" value=\"{email}\">\
         <label for=\"code\">Code</label>\
         <input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" \
         autocomplete=\"one-time-code\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" required>\
         <button type=\"submit\">Continue</button></form>",
        client = escape(client_name),
        error = alert(error),
        email = escape(email),
        attempt = escape(attempt_id),
        action = escape(form.action),
        hidden = hidden(form, "code"),
    );
    document("Enter your code", &body)
}

/// The consent page: who asks, where the browser goes back to, and what it may do.
pub fn consent(
    form: &FormState<'_>,
    client_name: &str,
    redirect_host: &str,
    scopes: &[(String, String)],
    resource: Option<&str>,
    email: &str,
) -> String {
    let resource = resource
        .map(|r| {
            format!(
                "<p>Its access will be for <strong>{}</strong>.</p>",
                escape(r)
            )
        })
        .unwrap_or_default();
    let scopes = if scopes.is_empty() {
        "<p>It asks for no particular permission: it will know who you are here.</p>".to_owned()
    } else {
        let items: String = scopes
            .iter()
            .map(|(name, description)| {
                if description.is_empty() {
                    format!("<li><code>{}</code></li>", escape(name))
                } else {
                    format!(
                        "<li>{} <span class=\"muted\">(<code>{}</code>)</span></li>",
                        escape(description),
                        escape(name)
                    )
                }
            })
            .collect();
        format!("<p>It asks to:</p><ul>{items}</ul>")
    };
    let body = format!(
        "<h1>Allow {client}?</h1>\
         <p><strong>{client}</strong> wants to use your account <strong>{email}</strong>. \
         You will be sent back to <strong>{host}</strong>.</p>{scopes}{resource}\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\
         </form>",
        client = escape(client_name),
        email = escape(email),
        host = escape(redirect_host),
        action = escape(form.action),
        hidden = hidden(form, "consent"),
    );
    document("Allow access", &body)
}

/// The page of a request that cannot go back to its client (or a refused form).
pub fn error(message: &str) -> String {
    document(
        "Cannot continue",
        &format!(
            "<h1>This request cannot continue</h1><p>{}</p>",
            escape(message)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> FormState<'static> {
        FormState {
            action: "https://t.example/apps/a/tenants/t/oauth/authorize",
            csrf: "c\"srf",
            request: "client_id=x&redirect_uri=https%3A%2F%2Fapp&state=<s>",
        }
    }

    #[test]
    fn every_value_is_escaped() {
        let page = consent(
            &form(),
            "<script>alert(1)</script>",
            "app.example",
            &[("mcp:tools".into(), "Use \"tools\" & <more>".into())],
            Some("https://mcp.example/<x>"),
            "a@example.com",
        );
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("value=\"c&quot;srf\""));
        assert!(page.contains("state=&lt;s&gt;"));
        assert!(page.contains("Use &quot;tools&quot; &amp; &lt;more&gt;"));
        assert!(page.contains("https://mcp.example/&lt;x&gt;"));
        let hostile = ["<img>\"".to_owned()];
        let both = Methods {
            password: true,
            passwordless: true,
            providers: &hostile,
        };
        let page = sign_in(&form(), "x", both, Some("<b>no</b>"));
        assert!(page.contains("&lt;b&gt;no&lt;/b&gt;"));
        assert!(!page.contains("<img>") && page.contains("value=\"&lt;img&gt;&quot;\""));
        let page = code(&form(), "<i>c</i>", "a\"b@example.com", "<id>", Some("<e>"));
        assert!(!page.contains("<i>") && !page.contains("<id>") && !page.contains("<e>"));
        assert!(page.contains("value=\"a&quot;b@example.com\""));
        assert!(page.contains("value=\"&lt;id&gt;\""));
    }

    #[test]
    fn the_sign_in_page_offers_exactly_the_tenants_methods() {
        let google = ["google".to_owned()];
        let only = |password, passwordless| {
            sign_in(
                &form(),
                "x",
                Methods {
                    password,
                    passwordless,
                    providers: &[],
                },
                None,
            )
        };
        let both = only(true, true);
        assert!(both.contains("name=\"step\" value=\"signin\""));
        assert!(both.contains("name=\"step\" value=\"passwordless\""));
        let password = only(true, false);
        assert!(
            password.contains("value=\"signin\"") && !password.contains("value=\"passwordless\"")
        );
        let code = only(false, true);
        assert!(!code.contains("value=\"signin\"") && code.contains("value=\"passwordless\""));
        assert!(!code.contains("type=\"password\""));
        assert!(only(false, false).contains("no way to sign in"));
        let providers = sign_in(
            &form(),
            "x",
            Methods {
                password: false,
                passwordless: false,
                providers: &google,
            },
            None,
        );
        assert!(providers.contains("value=\"thirdparty\""));
        assert!(providers.contains("name=\"provider\" value=\"google\""));
        assert!(!providers.contains("no way to sign in"));
        assert!(
            !both.contains("value=\"thirdparty\""),
            "no providers, no form"
        );
    }

    #[test]
    fn the_policy_allows_the_style_by_hash_and_forms_to_issuer_and_client_only() {
        let csp = content_security_policy(
            "https://t.example",
            &["https://app.example:8443", "https://idp.example"],
        );
        assert!(csp.contains("default-src 'none'"));
        assert!(csp.contains(&style_hash()));
        assert!(csp.contains(
            "form-action 'self' https://t.example https://app.example:8443 https://idp.example;"
        ));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe"));
        let hostile = content_security_policy(
            "https://t.example",
            &["https://a; script-src *", "https://idp.example"],
        );
        assert_eq!(hostile.matches(';').count(), csp.matches(';').count());
        assert!(!hostile.contains(' ') || !hostile.contains("script-src *"));
    }

    #[test]
    fn origins_are_scheme_and_authority() {
        assert_eq!(
            origin_of("https://app.example:8443/cb?x=1"),
            Some("https://app.example:8443")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:5000"),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(origin_of("nope"), None);
    }
}
