//! The Distribution API's wire formats, read without trusting the registry: auth challenges,
//! `Link` pagination, tag lists, the tag and digest grammars, and which addresses are loopback
//! (plain HTTP, as the Docker engine allows). Pure functions, fuzzed in [`crate::fuzzing`].

use std::collections::HashMap;

use reqwest::header::{HeaderMap, LINK};

/// Loopback registries speak plain HTTP, as the Docker engine allows; every other one HTTPS.
pub(crate) fn scheme(host: &str) -> &'static str {
    let name = host
        .rsplit_once(':')
        .map_or(host, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let loopback = name == "localhost" || name == "::1" || name.starts_with("127.");
    if loopback { "http" } else { "https" }
}

/// `Bearer realm="https://auth",service="registry",scope="…"` → its parameters.
pub(crate) fn parse_challenge(challenge: &str) -> HashMap<String, String> {
    let rest = challenge.split_once(' ').map_or("", |(_, r)| r);
    let mut out = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .skip_while(|c| *c == ',' || c.is_whitespace())
            .take_while(|c| *c != '=')
            .collect();
        if key.is_empty() {
            break;
        }
        let value: String = if chars.peek() == Some(&'"') {
            chars.next();
            chars.by_ref().take_while(|c| *c != '"').collect()
        } else {
            chars.by_ref().take_while(|c| *c != ',').collect()
        };
        out.insert(key.trim().to_ascii_lowercase(), value);
    }
    out
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    parse_next_link(headers.get(LINK)?.to_str().ok()?)
}

/// `<URL>; rel="next"` (RFC 8288, one of several links) → URL. Anything malformed is no link.
pub(crate) fn parse_next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let part = part.trim();
        let rest = part.strip_prefix('<')?;
        let (target, params) = rest.split_once('>')?;
        let next = params.split(';').any(|p| {
            let p = p.trim();
            p.strip_prefix("rel=")
                .is_some_and(|v| v.trim_matches('"').split(' ').any(|r| r == "next"))
        });
        next.then(|| target.to_string())
    })
}

/// The tags of one tags/list answer (`{"tags": [...]}`, no `tags` or `null` for none) that are
/// tags: the OCI tag grammar; anything else a registry lists is no tag to print or use. `None` when
/// `tags` is not a list.
pub(crate) fn listed_tags(body: &serde_json::Value) -> Option<impl Iterator<Item = &str>> {
    let tags = match body.get("tags") {
        None | Some(serde_json::Value::Null) => &[][..],
        Some(serde_json::Value::Array(tags)) => tags.as_slice(),
        Some(_) => return None,
    };
    Some(
        tags.iter()
            .filter_map(|t| t.as_str().filter(|t| valid_tag(t))),
    )
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`, the OCI Distribution tag grammar.
pub(crate) fn valid_tag(t: &str) -> bool {
    t.len() <= 128
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// `sha256:<64 hex>` (or another algorithm's): a digest is printed and used in URLs, so a registry's
/// answer that is anything else (a line break, a path) is not taken for one.
pub(crate) fn valid_digest(d: &str) -> bool {
    d.split_once(':').is_some_and(|(algorithm, hex)| {
        !algorithm.is_empty()
            && algorithm
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
            && hex.len() >= 32
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// A loopback URL: a local registry or token service (tests, a registry on the runner).
pub(crate) fn is_loopback_url(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let p = parse_challenge(
            r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:o/r:pull""#,
        );
        assert_eq!(p["realm"], "https://ghcr.io/token");
        assert_eq!(p["service"], "ghcr.io");
        assert_eq!(p["scope"], "repository:o/r:pull");
    }

    #[test]
    fn links() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            r#"</v2/x/tags/list?last=b&n=2>; rel="next""#.parse().unwrap(),
        );
        assert_eq!(next_link(&h).as_deref(), Some("/v2/x/tags/list?last=b&n=2"));
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn malformed_links_are_no_links() {
        assert_eq!(parse_next_link(r#">/v2/x<; rel="next""#), None);
        assert_eq!(parse_next_link(r#"</v2/x; rel="next""#), None);
        assert_eq!(parse_next_link(r#"</v2/x>; rel="prev""#), None);
        assert_eq!(
            parse_next_link(r#"</a>; rel="prev", </b?n=1>; rel=next"#).as_deref(),
            Some("/b?n=1")
        );
    }

    proptest::proptest! {
        #[test]
        fn any_link_header_parses_without_panic(link in "\\PC*") {
            let _ = parse_next_link(&link);
        }

        #[test]
        fn link_shaped_headers_parse_without_panic(link in "[<>;, =\"a-z/?&é]{0,40}") {
            if let Some(target) = parse_next_link(&link) {
                proptest::prop_assert!(!target.contains('>'));
            }
        }

        #[test]
        fn any_challenge_parses_without_panic(challenge in "\\PC*") {
            let _ = parse_challenge(&challenge);
        }

        #[test]
        fn challenge_shaped_headers_parse_without_panic(challenge in "(Bearer|Basic)? [a-z=\",é ]{0,40}") {
            let _ = parse_challenge(&challenge);
        }
    }

    #[test]
    fn tags_are_checked() {
        assert!(valid_tag("stage-1.2.3"));
        assert!(valid_tag("fp-abc_DEF"));
        assert!(!valid_tag("x\n::error::y"));
        assert!(!valid_tag(".hidden"));
        assert!(!valid_tag(""));
        assert!(!valid_tag(&"a".repeat(129)));
    }

    #[test]
    fn digests_are_checked() {
        assert!(valid_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!valid_digest("sha256:\n::error::x"));
        assert!(!valid_digest("sha256:../../x"));
        assert!(!valid_digest(&"a".repeat(64)));
    }

    #[test]
    fn loopback_is_plain_http() {
        assert_eq!(scheme("127.0.0.1:5000"), "http");
        assert_eq!(scheme("localhost:5000"), "http");
        assert_eq!(scheme("[::1]:5000"), "http");
        assert_eq!(scheme("ghcr.io"), "https");
    }
}
