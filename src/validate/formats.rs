//! Value formats: Kubernetes names and label values, DNS names, IPs, `https://` URLs. Pure
//! predicates, no diagnostics.

use std::net::IpAddr;

/// A DNS-1123 label: lower-case alphanumerics and '-', starting and ending alphanumeric, ≤ 63.
pub(crate) fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain (a Kubernetes object name): dot-separated labels, ≤ 253.
pub(crate) fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// A Kubernetes label value: ≤ 63 alphanumerics, '-', '_', '.', alphanumeric at both ends.
pub(crate) fn is_label_value(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// An IP address or a DNS name (RFC 1123 subdomain, case-insensitive, whose last label is not
/// all digits, so `203.0.113.300` is neither).
pub(crate) fn is_ip_or_hostname(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    let last_numeric = s
        .rsplit('.')
        .next()
        .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()));
    !s.is_empty()
        && s.len() <= 253
        && !last_numeric
        && s.split('.')
            .all(|l| is_dns1123_label(&l.to_ascii_lowercase()))
}

/// Why `s` is not an `https://HOST[:PORT][/PATH]` URL, or `None` when it is one.
pub(crate) fn url_problem(s: &str) -> Option<String> {
    let Some(rest) = s.strip_prefix("https://") else {
        return Some("not an https:// URL".to_owned());
    };
    if rest.contains(char::is_whitespace) {
        return Some("contains spaces".to_owned());
    }
    let hostport = rest.split('/').next().unwrap_or("");
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        match h.split_once(']') {
            Some((ip, tail)) => {
                if ip.parse::<std::net::Ipv6Addr>().is_err() {
                    return Some(format!("`{ip}` is not an IPv6 address"));
                }
                match tail.strip_prefix(':') {
                    Some(p) => (None, Some(p)),
                    None if tail.is_empty() => (None, None),
                    None => return Some("unexpected text after the IPv6 address".to_owned()),
                }
            }
            None => return Some("unclosed `[` in the host".to_owned()),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(hostport), None),
        }
    };
    if let Some(h) = host
        && !is_ip_or_hostname(h)
    {
        return Some(format!("`{h}` is not an IP address or hostname"));
    }
    if let Some(p) = port
        && !p.parse::<u16>().is_ok_and(|n| n > 0)
    {
        return Some(format!("port `{p}` is not between 1 and 65535"));
    }
    None
}
