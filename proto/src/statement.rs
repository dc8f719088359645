//! The in-toto Statement v1 that carries a [`Report`] as its predicate.
//!
//! ```json
//! {"_type":"https://in-toto.io/Statement/v1",
//!  "subject":[{"name":"host/<hostname>","digest":{"sha256":"<hex SHA-256 of the machine id>"}}],
//!  "predicateType":"urn:attest:evidence-report:v1",
//!  "predicate":{ …the report… }}
//! ```
//!
//! The agent serializes it once ([`Statement::to_bytes`], compact JSON, fields in the
//! order above) and signs exactly those bytes; the collector stores them verbatim and
//! never re-serializes. [`Statement::from_slice`] is strict: size and nesting limits
//! first, then a typed parse that rejects unknown fields everywhere, then the checks of
//! [`Statement::validate`]. `to_bytes` runs the same checks, so an agent never signs a
//! statement the collector would refuse.

use serde::{Deserialize, Serialize};

use crate::chain::is_link;
use crate::error::{ProtoError, echo};
use crate::json::parse_strict;
use crate::keys::sha256_hex;
use crate::limits::{MAX_JSON_DEPTH, MAX_STATEMENT_BYTES, check_json_depth};
use crate::report::{REPORT_SCHEMA_V1, REPORT_SCHEMA_V3, REPORT_SCHEMAS, Report};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// `predicateType` of an Attest evidence report.
pub const PREDICATE_TYPE: &str = "urn:attest:evidence-report:v1";

/// The prefix of a subject name: `host/<hostname>`.
pub const SUBJECT_NAME_PREFIX: &str = "host/";

/// An in-toto statement about one host whose predicate is a [`Report`].
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The host the report is about. In-toto allows several subjects; we always have
    /// exactly one.
    pub subject: Subject,
    pub predicate: Report,
}

/// An in-toto resource descriptor naming the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// `host/<hostname>`.
    pub name: String,
    pub digest: SubjectDigest,
}

/// The subject's digest set; only SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectDigest {
    /// Lowercase hex SHA-256 of the host's machine id string (its UTF-8 bytes).
    pub sha256: String,
}

impl Subject {
    /// The subject for a host: its name and the digest of its machine id.
    pub fn for_host(host: &crate::report::HostInfo) -> Self {
        Subject {
            name: format!("{SUBJECT_NAME_PREFIX}{}", host.hostname),
            digest: SubjectDigest {
                sha256: sha256_hex(host.machine_id.as_bytes()),
            },
        }
    }
}

#[derive(Serialize)]
struct WireOut<'a> {
    #[serde(rename = "_type")]
    type_: &'static str,
    subject: [&'a Subject; 1],
    #[serde(rename = "predicateType")]
    predicate_type: &'static str,
    predicate: &'a Report,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireIn {
    #[serde(rename = "_type")]
    type_: String,
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    predicate: Report,
}

impl Statement {
    /// The statement for a report, with the subject derived from its host.
    pub fn for_report(report: Report) -> Self {
        Statement {
            subject: Subject::for_host(&report.host),
            predicate: report,
        }
    }

    /// The bytes to sign: compact JSON, fields in wire order.
    ///
    /// Fails when the statement would be refused by [`Statement::from_slice`]: invalid
    /// (see [`Statement::validate`]), over [`MAX_STATEMENT_BYTES`] or nested deeper
    /// than [`MAX_JSON_DEPTH`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, ProtoError> {
        self.validate()?;
        let bytes = serde_json::to_vec(&WireOut {
            type_: STATEMENT_TYPE,
            subject: [&self.subject],
            predicate_type: PREDICATE_TYPE,
            predicate: &self.predicate,
        })
        .map_err(|e| ProtoError::Internal(format!("serializing a statement: {e}")))?;
        check_limits(&bytes)?;
        Ok(bytes)
    }

    /// Parses and checks statement bytes (an envelope's verified payload).
    ///
    /// Errors: `too_large`, `too_deeply_nested`, `malformed` (not JSON), and
    /// `not_a_statement` (JSON of the wrong shape, an unknown field, another `_type` or
    /// `predicateType`, or a failed [`Statement::validate`]).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ProtoError> {
        let wire: WireIn = parse_strict(
            bytes,
            "statement",
            MAX_STATEMENT_BYTES,
            ProtoError::NotAStatement,
        )?;
        if wire.type_ != STATEMENT_TYPE {
            return Err(ProtoError::NotAStatement(format!(
                "_type is {:?}, expected {STATEMENT_TYPE:?}",
                echo(&wire.type_)
            )));
        }
        if wire.predicate_type != PREDICATE_TYPE {
            return Err(ProtoError::NotAStatement(format!(
                "predicateType is {:?}, expected {PREDICATE_TYPE:?}",
                echo(&wire.predicate_type)
            )));
        }
        let mut subjects = wire.subject.into_iter();
        let (Some(subject), None) = (subjects.next(), subjects.next()) else {
            return Err(ProtoError::NotAStatement(
                "subject must hold exactly one host".into(),
            ));
        };
        let statement = Statement {
            subject,
            predicate: wire.predicate,
        };
        statement.validate()?;
        Ok(statement)
    }

    /// The rules beyond the JSON shape: the report's schema is one of
    /// [`REPORT_SCHEMAS`] and can carry what the report holds (a v1 report has no
    /// `api` evidence and is no replay; only a v3 report names an inventory list, and
    /// a v3 one never carries the package list inline, see [`crate::inventory`]), it is
    /// part of a chain (`agent_id` set, `seq` ≥ 1, `prev` a `sha256:<hex>` link), and
    /// the subject names the report's host and carries the digest of its machine id.
    pub fn validate(&self) -> Result<(), ProtoError> {
        let report = &self.predicate;
        if !REPORT_SCHEMAS.contains(&report.schema.as_str()) {
            return Err(ProtoError::NotAStatement(format!(
                "predicate schema is {:?}, expected one of {}",
                echo(&report.schema),
                REPORT_SCHEMAS.join(", ")
            )));
        }
        if report.schema != REPORT_SCHEMA_V3 && crate::inventory::uses_list(report) {
            return Err(ProtoError::NotAStatement(format!(
                "an {} report names an inventory list, which needs {REPORT_SCHEMA_V3}",
                echo(&report.schema)
            )));
        }
        if report.schema == REPORT_SCHEMA_V1 && report.required_schema() != REPORT_SCHEMA_V1 {
            return Err(ProtoError::NotAStatement(format!(
                "an {REPORT_SCHEMA_V1} report carries api evidence or agent.replay, \
                 which need {}",
                report.required_schema()
            )));
        }
        if report.schema == REPORT_SCHEMA_V3 {
            crate::inventory::validate_v3(report)?;
        }
        if report.agent_id.is_empty() {
            return Err(ProtoError::NotAStatement(
                "predicate agent_id is empty".into(),
            ));
        }
        if report.seq == 0 {
            return Err(ProtoError::NotAStatement(
                "predicate seq must be 1 or more".into(),
            ));
        }
        if !is_link(&report.prev) {
            return Err(ProtoError::NotAStatement(
                "predicate prev must be \"sha256:\" and 64 lowercase hex digits".into(),
            ));
        }
        if self.subject != Subject::for_host(&report.host) {
            return Err(ProtoError::NotAStatement(
                "subject does not match the predicate's host (name host/<hostname>, \
                 digest sha256 of machine_id)"
                    .into(),
            ));
        }
        Ok(())
    }
}

fn check_limits(bytes: &[u8]) -> Result<(), ProtoError> {
    if bytes.len() > MAX_STATEMENT_BYTES {
        return Err(ProtoError::TooLarge {
            what: "statement",
            size: bytes.len(),
            limit: MAX_STATEMENT_BYTES,
        });
    }
    check_json_depth(bytes, MAX_JSON_DEPTH)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::chain::genesis_prev;
    use crate::report::{
        AgentInfo, CheckResult, Evidence, HostInfo, OsInfo, REPORT_SCHEMA_V2, Status,
    };
    use crate::{ErrorCode, SigningKey};
    use proptest::prelude::*;

    /// A fixed report used by the known-answer tests of this crate.
    pub(crate) fn sample_report() -> Report {
        // The RFC 8032 test 1 key, which also signs the known-answer envelope.
        let secret: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let key = SigningKey::from_bytes(&secret);
        Report {
            schema: REPORT_SCHEMA_V1.into(),
            agent_id: "agt_01".into(),
            seq: 1,
            prev: genesis_prev(&key.verifying_key()),
            collected_at: "2026-11-25T14:00:00Z".parse().unwrap(),
            agent: AgentInfo {
                version: "0.1.0".into(),
                replay: false,
            },
            host: HostInfo {
                hostname: "web-1".into(),
                machine_id: "0123456789abcdef0123456789abcdef".into(),
                os: OsInfo {
                    id: "debian".into(),
                    version_id: "12".into(),
                    pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
                },
                kernel: "6.1.0-18-amd64".into(),
            },
            results: vec![
                CheckResult::new(
                    "disk.root_encrypted",
                    Status::Pass,
                    "The root file system is on a LUKS2 volume.",
                )
                .fact("cipher", "aes-xts-plain64")
                .evidence(Evidence::File {
                    path: "/etc/crypttab".into(),
                    excerpt: "root_crypt UUID=… none luks".into(),
                    sha256: format!("sha256:{}", sha256_hex(b"crypttab")),
                }),
            ],
        }
    }

    #[test]
    fn wire_form_is_exact() {
        let bytes = Statement::for_report(sample_report()).to_bytes().unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let machine = sha256_hex(b"0123456789abcdef0123456789abcdef");
        assert!(text.starts_with(&format!(
            "{{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{{\"name\":\"host/web-1\",\"digest\":{{\"sha256\":\"{machine}\"}}}}],\"predicateType\":\"urn:attest:evidence-report:v1\",\"predicate\":{{\"schema\":\"attest.report/v1\",\"agent_id\":\"agt_01\",\"seq\":1,"
        )), "{text}");
        assert!(text.contains("\"collected_at\":\"2026-11-25T14:00:00Z\""));
        assert!(!text.contains('\n'));
    }

    #[test]
    fn round_trip() {
        let statement = Statement::for_report(sample_report());
        let bytes = statement.to_bytes().unwrap();
        let parsed = Statement::from_slice(&bytes).unwrap();
        assert_eq!(parsed, statement);
        assert_eq!(parsed.to_bytes().unwrap(), bytes);
    }

    fn value() -> serde_json::Value {
        let bytes = Statement::for_report(sample_report()).to_bytes().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn code_of(v: &serde_json::Value) -> ErrorCode {
        Statement::from_slice(&serde_json::to_vec(v).unwrap())
            .unwrap_err()
            .code()
    }

    #[test]
    fn other_types_are_not_statements() {
        let mut v = value();
        v["_type"] = "https://in-toto.io/Statement/v0.1".into();
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
        let mut v = value();
        v["predicateType"] = "https://slsa.dev/provenance/v1".into();
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
        let mut v = value();
        v["predicate"]["schema"] = "attest.report/v4".into();
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
    }

    /// v1 carries file and command evidence only; v2 adds api evidence and
    /// `agent.replay`. Each feature of v2 in a report that says v1 is refused with
    /// the statement code; the same report saying v2 is read.
    #[test]
    fn schema_v2_features_need_schema_v2() {
        let api = serde_json::json!({
            "kind": "api", "name": "NetUserModalsGet(3)",
            "excerpt": "lockout_threshold = 0", "sha256": format!("sha256:{}", "ab".repeat(32))
        });
        let mut v = value();
        v["predicate"]["results"][0]["evidence"]
            .as_array_mut()
            .unwrap()
            .push(api);
        assert_eq!(v["predicate"]["schema"], REPORT_SCHEMA_V1);
        let err = Statement::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotAStatement);
        assert!(err.to_string().contains("api evidence"), "{err}");
        v["predicate"]["schema"] = REPORT_SCHEMA_V2.into();
        let st = Statement::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(st.predicate.required_schema(), REPORT_SCHEMA_V2);

        let mut v = value();
        v["predicate"]["agent"]["replay"] = true.into();
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
        v["predicate"]["schema"] = REPORT_SCHEMA_V2.into();
        let st = Statement::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert!(st.predicate.agent.replay);
        // A v1 report that says v2 is still read (the agent writes the lowest).
        let mut v = value();
        v["predicate"]["schema"] = REPORT_SCHEMA_V2.into();
        assert!(Statement::from_slice(&serde_json::to_vec(&v).unwrap()).is_ok());
        // `replay: false` is never written.
        let bytes = Statement::for_report(sample_report()).to_bytes().unwrap();
        assert!(!String::from_utf8(bytes).unwrap().contains("replay"));
    }

    #[test]
    fn unknown_and_missing_fields_are_refused() {
        for path in [
            &[][..],
            &["predicate"],
            &["predicate", "host"],
            &["subject", "0"],
        ] {
            let mut v = value();
            let mut target = &mut v;
            for p in path {
                target = match p.parse::<usize>() {
                    Ok(i) => &mut target[i],
                    Err(_) => &mut target[*p],
                };
            }
            target["extra"] = 1.into();
            assert_eq!(code_of(&v), ErrorCode::NotAStatement, "{path:?}");
        }
        let mut v = value();
        v.as_object_mut().unwrap().remove("subject");
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
        let mut v = value();
        v["subject"][0]["digest"]["sha512"] = "00".into();
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
    }

    #[test]
    fn structs_written_as_arrays_are_refused() {
        // serde alone would accept these.
        let mut v = value();
        v["predicate"]["host"]["os"] = serde_json::json!(["debian", "12", "Debian"]);
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
        let mut v = value();
        v["predicate"]["agent"] = serde_json::json!(["0.1.0"]);
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
        let mut v = value();
        v["predicate"]["results"][0]["evidence"][0] =
            serde_json::json!(["file", "/etc/crypttab", "x", "sha256:00"]);
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
        let mut v = value();
        let d = v["subject"][0]["digest"]["sha256"].clone();
        v["subject"][0]["digest"] = serde_json::json!([d]);
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
        let v = value();
        let top = serde_json::json!([v["_type"], v["subject"], v["predicateType"], v["predicate"]]);
        assert_eq!(code_of(&top), ErrorCode::NotAStatement);
    }

    #[test]
    fn duplicate_keys_are_refused_even_in_facts() {
        let text =
            String::from_utf8(Statement::for_report(sample_report()).to_bytes().unwrap()).unwrap();
        for dup in [
            text.replacen("\"cipher\":", "\"cipher\":\"none\",\"cipher\":", 1),
            text.replacen("\"seq\":1,", "\"seq\":1,\"seq\":2,", 1),
            text.replacen("{\"_type\"", "{\"_type\":\"x\",\"_type\"", 1),
        ] {
            assert_ne!(dup, text);
            let err = Statement::from_slice(dup.as_bytes()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::NotAStatement, "{err}");
            assert!(err.to_string().contains("duplicate key"), "{err}");
        }
    }

    #[test]
    fn subject_must_match_the_host() {
        let mut v = value();
        v["subject"][0]["name"] = "host/web-2".into();
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
        let mut v = value();
        v["subject"][0]["digest"]["sha256"] = sha256_hex(b"other").into();
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
        let mut v = value();
        let s = v["subject"][0].clone();
        v["subject"] = serde_json::json!([s.clone(), s]);
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
        let mut v = value();
        v["subject"] = serde_json::json!([]);
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
    }

    #[test]
    fn chain_fields_are_required() {
        let mut v = value();
        v["predicate"]["seq"] = 0.into();
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
        let mut v = value();
        v["predicate"]["prev"] = "".into();
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
        let mut v = value();
        v["predicate"]["agent_id"] = "".into();
        assert_eq!(code_of(&v), ErrorCode::NotAStatement);
        // The agent cannot produce one either.
        let mut report = sample_report();
        report.seq = 0;
        assert_eq!(
            Statement::for_report(report).to_bytes().unwrap_err().code(),
            ErrorCode::NotAStatement
        );
    }

    #[test]
    fn syntax_errors_are_malformed() {
        for bad in [&b""[..], b"{", b"{\"_type\":", b"nul", b"\xff", b"{}}"] {
            let err = Statement::from_slice(bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Malformed, "{bad:?}: {err}");
        }
        // Valid JSON of the wrong shape is not a statement.
        for bad in [&b"[]"[..], b"1", b"{}", b"null"] {
            let err = Statement::from_slice(bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::NotAStatement, "{bad:?}: {err}");
        }
    }

    #[test]
    fn deep_nesting_is_rejected_with_its_code() {
        // Deep inside a fact: the depth check runs before parsing.
        let mut report = sample_report();
        let mut deep = serde_json::Value::from(1);
        for _ in 0..MAX_JSON_DEPTH {
            deep = serde_json::json!([deep]);
        }
        report.results[0].facts.insert("deep".into(), deep);
        let statement = Statement::for_report(report);
        assert_eq!(
            statement.to_bytes().unwrap_err().code(),
            ErrorCode::TooDeeplyNested
        );
        let raw = format!("{{\"_type\":{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            Statement::from_slice(raw.as_bytes()).unwrap_err().code(),
            ErrorCode::TooDeeplyNested
        );
        // Just under serde_json's own limit of 128 still gets our code.
        let raw = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert_eq!(
            Statement::from_slice(raw.as_bytes()).unwrap_err().code(),
            ErrorCode::TooDeeplyNested
        );
    }

    #[test]
    fn oversized_statements_are_too_large() {
        let mut report = sample_report();
        report.results[0].summary = "x".repeat(MAX_STATEMENT_BYTES);
        let statement = Statement::for_report(report);
        assert_eq!(
            statement.to_bytes().unwrap_err().code(),
            ErrorCode::TooLarge
        );
        let big = vec![b' '; MAX_STATEMENT_BYTES + 1];
        assert_eq!(
            Statement::from_slice(&big).unwrap_err().code(),
            ErrorCode::TooLarge
        );
    }

    proptest! {
        #[test]
        fn from_slice_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Statement::from_slice(&bytes);
        }

        #[test]
        fn from_slice_never_panics_on_mutated_statements(
            pos in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut bytes = Statement::for_report(sample_report()).to_bytes().unwrap();
            let i = pos.index(bytes.len());
            bytes[i] = byte;
            if let Ok(s) = Statement::from_slice(&bytes) {
                prop_assert!(s.validate().is_ok());
            }
        }

        #[test]
        fn any_hostname_and_facts_round_trip(
            hostname in "\\PC{0,40}",
            machine_id in "[0-9a-f]{0,32}",
            key in "\\PC{1,20}",
            val in "\\PC{0,40}",
        ) {
            let mut report = sample_report();
            report.host.hostname = hostname;
            report.host.machine_id = machine_id;
            report.results[0].facts.insert(key, val.into());
            let statement = Statement::for_report(report);
            let bytes = statement.to_bytes().unwrap();
            prop_assert_eq!(Statement::from_slice(&bytes).unwrap(), statement);
        }
    }
}
