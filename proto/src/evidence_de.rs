//! Reading [`Evidence`] in one pass over its object.
//!
//! serde's derive for an internally tagged enum (`#[serde(tag = "kind")]`) copies the
//! whole object into a buffer of its own before it knows the variant, then reads the
//! variant from that buffer: about 5 % of the collector's CPU per report went there
//! (a report carries ~50 evidence objects; profile of 2026-12-04). This reads each
//! field once into its slot and decides at the end, with the derive's rules: the
//! variant's fields all present (`exit_code` may be absent: `None`), no field of
//! another variant and no unknown one, no key twice, `kind` one of `file`, `command`,
//! `api`. The tests hold it to a derived twin on valid and invalid objects.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::report::Evidence;

const FILE: &[&str] = &["path", "excerpt", "sha256"];
const COMMAND: &[&str] = &["argv", "exit_code", "excerpt", "sha256"];
const API: &[&str] = &["name", "excerpt", "sha256"];
/// The `kind` tag, read as serde's derive reads an internally tagged enum's tag.
#[derive(Clone, Copy, Deserialize)]
#[serde(variant_identifier, rename_all = "snake_case")]
enum Kind {
    File,
    Command,
    Api,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Kind,
    Path,
    Argv,
    ExitCode,
    Name,
    Excerpt,
    Sha256,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Kind => "kind",
            Field::Path => "path",
            Field::Argv => "argv",
            Field::ExitCode => "exit_code",
            Field::Name => "name",
            Field::Excerpt => "excerpt",
            Field::Sha256 => "sha256",
        }
    }
}

/// Puts a field's value in its slot, refusing a second one.
fn fill<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    slot: &mut Option<T>,
    field: Field,
    map: &mut A,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(field.name()));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

struct EvidenceVisitor;

impl<'de> Visitor<'de> for EvidenceVisitor {
    type Value = Evidence;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an evidence object (kind file, command or api)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Evidence, A::Error> {
        let mut kind: Option<Kind> = None;
        let mut path: Option<String> = None;
        let mut argv: Option<Vec<String>> = None;
        let mut exit_code: Option<Option<i32>> = None;
        let mut name: Option<String> = None;
        let mut excerpt: Option<String> = None;
        let mut sha256: Option<String> = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Kind => fill(&mut kind, field, &mut map)?,
                Field::Path => fill(&mut path, field, &mut map)?,
                Field::Argv => fill(&mut argv, field, &mut map)?,
                Field::ExitCode => fill(&mut exit_code, field, &mut map)?,
                Field::Name => fill(&mut name, field, &mut map)?,
                Field::Excerpt => fill(&mut excerpt, field, &mut map)?,
                Field::Sha256 => fill(&mut sha256, field, &mut map)?,
            }
        }
        let kind = kind.ok_or_else(|| de::Error::missing_field("kind"))?;
        // A field of another variant is unknown to this one.
        let foreign = match kind {
            Kind::File => [
                (argv.is_some(), "argv"),
                (exit_code.is_some(), "exit_code"),
                (name.is_some(), "name"),
            ],
            Kind::Command => [
                (path.is_some(), "path"),
                (name.is_some(), "name"),
                (false, ""),
            ],
            Kind::Api => [
                (path.is_some(), "path"),
                (argv.is_some(), "argv"),
                (exit_code.is_some(), "exit_code"),
            ],
        };
        let expected = match kind {
            Kind::File => FILE,
            Kind::Command => COMMAND,
            Kind::Api => API,
        };
        if let Some((_, field)) = foreign.iter().find(|(present, _)| *present) {
            return Err(de::Error::unknown_field(field, expected));
        }
        let need = |v: Option<String>, field: &'static str| {
            v.ok_or_else(|| <A::Error as de::Error>::missing_field(field))
        };
        Ok(match kind {
            Kind::File => Evidence::File {
                path: need(path, "path")?,
                excerpt: need(excerpt, "excerpt")?,
                sha256: need(sha256, "sha256")?,
            },
            Kind::Command => Evidence::Command {
                argv: argv.ok_or_else(|| de::Error::missing_field("argv"))?,
                exit_code: exit_code.flatten(),
                excerpt: need(excerpt, "excerpt")?,
                sha256: need(sha256, "sha256")?,
            },
            Kind::Api => Evidence::Api {
                name: need(name, "name")?,
                excerpt: need(excerpt, "excerpt")?,
                sha256: need(sha256, "sha256")?,
            },
        })
    }
}

impl<'de> Deserialize<'de> for Evidence {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Evidence, D::Error> {
        d.deserialize_map(EvidenceVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The derive this module replaces, as it was.
    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
    enum Derived {
        File {
            path: String,
            excerpt: String,
            sha256: String,
        },
        Command {
            argv: Vec<String>,
            exit_code: Option<i32>,
            excerpt: String,
            sha256: String,
        },
        Api {
            name: String,
            excerpt: String,
            sha256: String,
        },
    }

    fn same(e: &Evidence, d: &Derived) -> bool {
        match (e, d) {
            (
                Evidence::File {
                    path,
                    excerpt,
                    sha256,
                },
                Derived::File {
                    path: p,
                    excerpt: x,
                    sha256: h,
                },
            ) => (path, excerpt, sha256) == (p, x, h),
            (
                Evidence::Command {
                    argv,
                    exit_code,
                    excerpt,
                    sha256,
                },
                Derived::Command {
                    argv: a,
                    exit_code: c,
                    excerpt: x,
                    sha256: h,
                },
            ) => (argv, exit_code, excerpt, sha256) == (a, c, x, h),
            (
                Evidence::Api {
                    name,
                    excerpt,
                    sha256,
                },
                Derived::Api {
                    name: n,
                    excerpt: x,
                    sha256: h,
                },
            ) => (name, excerpt, sha256) == (n, x, h),
            _ => false,
        }
    }

    /// One entry of an evidence object, valid or not.
    fn entry() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                r#""kind":"file""#,
                r#""kind":"command""#,
                r#""kind":"api""#,
                r#""kind":"url""#,
                r#""kind":7"#,
                r#""path":"/etc/ssh/sshd_config""#,
                r#""path":null"#,
                r#""argv":["/usr/bin/apt","list"]"#,
                r#""argv":"apt""#,
                r#""exit_code":0"#,
                r#""exit_code":null"#,
                r#""exit_code":"0""#,
                r#""name":"NetUserModalsGet(3)""#,
                r#""excerpt":"PermitRootLogin no""#,
                r#""excerpt":"a \"quoted\" line""#,
                r#""sha256":"sha256:00""#,
                r#""mode":"0644""#,
            ])
            .prop_map(str::to_owned),
        ]
    }

    /// Objects of every kind, whole, short of a field, with one too many.
    fn object() -> impl Strategy<Value = String> {
        let whole = prop::sample::select(vec![
            r#"{"kind":"file","path":"/p","excerpt":"x","sha256":"sha256:00"}"#,
            r#"{"path":"/p","excerpt":"x","sha256":"sha256:00","kind":"file"}"#,
            r#"{"kind":"command","argv":["a"],"exit_code":1,"excerpt":"x","sha256":"s"}"#,
            r#"{"kind":"command","argv":[],"excerpt":"x","sha256":"s"}"#,
            r#"{"excerpt":"x","kind":"api","name":"n","sha256":"s"}"#,
        ])
        .prop_map(str::to_owned);
        prop_oneof![
            whole.clone(),
            (whole, entry()).prop_map(|(w, e)| format!("{},{e}}}", &w[..w.len() - 1])),
            prop::collection::vec(entry(), 0..7).prop_map(|v| format!("{{{}}}", v.join(","))),
        ]
    }

    proptest! {
        /// Accepts exactly what the derive accepts, with the same value.
        #[test]
        fn reads_as_the_derive(json in object()) {
            let ours = serde_json::from_str::<Evidence>(&json);
            let derived = serde_json::from_str::<Derived>(&json);
            match (&ours, &derived) {
                (Ok(e), Ok(d)) => prop_assert!(same(e, d), "{json}: {e:?} vs {d:?}"),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "{json}: ours {ours:?}, derive {derived:?}"),
            }
        }
    }

    #[test]
    fn names_what_is_wrong() {
        let err = |json: &str| {
            serde_json::from_str::<Evidence>(json)
                .unwrap_err()
                .to_string()
        };
        assert!(
            err(r#"{"kind":"file","path":"/p","excerpt":"x","sha256":"s","argv":[]}"#)
                .contains("unknown field `argv`, expected one of `path`, `excerpt`, `sha256`")
        );
        assert!(
            err(r#"{"kind":"api","excerpt":"x","sha256":"s"}"#).contains("missing field `name`")
        );
        assert!(
            err(r#"{"kind":"file","path":"/p","path":"/q"}"#).contains("duplicate field `path`")
        );
        assert!(err(r#"{"kind":"url"}"#).contains("unknown variant `url`"));
        assert!(err(r#"{"path":"/p"}"#).contains("missing field `kind`"));
    }
}
