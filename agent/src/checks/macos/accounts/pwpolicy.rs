//! `pwpolicy -getaccountpolicies`: the global account policies, a plist after a
//! text line ("Getting global account policies"), read from the first `<?xml`.
//!
//! Three categories matter: `policyCategoryPasswordContent` (length),
//! `policyCategoryAuthentication` (lockout) and `policyCategoryPasswordChange`
//! (expiry); each an array of `{policyContent, policyIdentifier,
//! policyParameters}`. MDM passcode payloads appear as `ProfilePayload:<uuid>:<key>`
//! identifiers and are read the same way.

use plist::{Dictionary, Value};

use crate::checks::macos::plist::{self as pl, PlistError};

pub const CONTENT: &str = "policyCategoryPasswordContent";
pub const AUTHENTICATION: &str = "policyCategoryAuthentication";
pub const CHANGE: &str = "policyCategoryPasswordChange";
pub const MIN_LENGTH: &str = "minimumLength";
pub const MAX_FAILED: &str = "policyAttributeMaximumFailedAuthentications";
pub const EXPIRES_DAYS: &str = "policyAttributeExpiresEveryNDays";

/// One policy of one category.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub identifier: String,
    pub content: String,
    pub parameters: Dictionary,
}

/// The three categories the checks read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policies {
    pub content: Vec<Policy>,
    pub authentication: Vec<Policy>,
    pub change: Vec<Policy>,
}

fn policies(dict: &Dictionary, key: &str) -> Vec<Policy> {
    pl::dicts(dict, key)
        .into_iter()
        .map(|p| Policy {
            identifier: pl::string(p, "policyIdentifier").unwrap_or_default(),
            content: pl::string(p, "policyContent").unwrap_or_default(),
            parameters: p
                .get("policyParameters")
                .and_then(Value::as_dictionary)
                .cloned()
                .unwrap_or_default(),
        })
        .collect()
}

/// Parses the output of `pwpolicy -getaccountpolicies`.
pub fn parse(text: &str) -> Result<Policies, PlistError> {
    let dict = pl::parse_dict(text.as_bytes())?;
    Ok(Policies {
        content: policies(&dict, CONTENT),
        authentication: policies(&dict, AUTHENTICATION),
        change: policies(&dict, CHANGE),
    })
}

/// An integer parameter: an integer, or a string of decimal digits.
pub fn int_param(params: &Dictionary, key: &str) -> Option<i64> {
    match params.get(key)? {
        Value::Integer(i) => i.as_signed(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Real(r) if r.fract() == 0.0 && r.abs() < 1e15 => Some(*r as i64),
        _ => None,
    }
}

/// The RE of `policyAttributePassword matches 'RE'`: between the first and the
/// last single quote.
pub fn password_re(content: &str) -> Option<&str> {
    if !content.contains("policyAttributePassword matches") {
        return None;
    }
    let start = content.find('\'')?;
    let end = content.rfind('\'')?;
    (end > start).then(|| &content[start + 1..end])
}

/// The top-level alternatives of an RE (split at `|` outside `(…)` and `[…]`,
/// not escaped).
fn alternatives(re: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut class, mut escaped, mut from) = (0usize, false, false, 0usize);
    for (i, c) in re.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' if !class => class = true,
            ']' if class => class = false,
            '(' if !class => depth += 1,
            ')' if !class => depth = depth.saturating_sub(1),
            '|' if !class && depth == 0 => {
                out.push(&re[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    out.push(&re[from..]);
    out
}

/// An alternative that matches the empty password: nothing but anchors.
fn is_empty_alternative(alt: &str) -> bool {
    alt.chars().all(|c| matches!(c, '^' | '$' | '(' | ')'))
}

/// The largest `N` of `.{N,` in `re`.
fn largest_dot_repeat(re: &str) -> Option<u64> {
    re.match_indices(".{")
        .filter_map(|(at, _)| {
            let rest = &re[at + 2..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let after = rest[digits.len()..].chars().next();
            (!digits.is_empty() && after == Some(','))
                .then(|| digits.parse().ok())
                .flatten()
        })
        .max()
}

/// The minimum length an RE enforces: 0 when an alternative is empty
/// (`'^$|.{4,}+'`), else the largest `N` of `.{N,`; `None` when it has no `.{N,`.
pub fn re_min_length(re: &str) -> Option<u64> {
    let n = largest_dot_repeat(re)?;
    if alternatives(re).into_iter().any(is_empty_alternative) {
        Some(0)
    } else {
        Some(n)
    }
}

/// The effective minimum length, and the policy that sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct MinLength {
    pub value: u64,
    pub identifier: String,
    pub rule: String,
}

impl Policies {
    /// The largest minimum over the content policies' REs and `minimumLength`
    /// parameters (every policy applies, so the strictest decides).
    pub fn min_length(&self) -> Option<MinLength> {
        self.content
            .iter()
            .flat_map(|p| {
                let from_re = password_re(&p.content)
                    .and_then(re_min_length)
                    .map(|v| (v, p.content.clone()));
                let from_param = int_param(&p.parameters, MIN_LENGTH)
                    .filter(|v| *v >= 0)
                    .map(|v| (v as u64, format!("{MIN_LENGTH} = {v}")));
                [from_re, from_param]
                    .into_iter()
                    .flatten()
                    .map(|(value, rule)| MinLength {
                        value,
                        identifier: p.identifier.clone(),
                        rule,
                    })
            })
            .max_by_key(|m| m.value)
    }

    /// The strictest (smallest positive) value of an integer parameter over the
    /// policies of a category, with the policy's identifier.
    fn strictest(policies: &[Policy], key: &str) -> Option<(i64, String)> {
        policies
            .iter()
            .filter_map(|p| int_param(&p.parameters, key).map(|v| (v, p.identifier.clone())))
            .filter(|(v, _)| *v >= 1)
            .min_by_key(|(v, _)| *v)
    }

    /// `policyAttributeMaximumFailedAuthentications` of the authentication policies.
    pub fn max_failed(&self) -> Option<(i64, String)> {
        Self::strictest(&self.authentication, MAX_FAILED)
    }

    /// `policyAttributeExpiresEveryNDays` of the password-change policies.
    pub fn expires_days(&self) -> Option<(i64, String)> {
        Self::strictest(&self.change, EXPIRES_DAYS)
    }
}
