//! The inventory list: the installed packages of a host as a document of its own,
//! addressed by content.
//!
//! An `attest.report/v3` report does not carry `inventory.software`'s package list in
//! its facts. It carries the list's **address** instead (fact
//! [`INVENTORY_LIST_FACT`]), `sha256:<hex>` of the list document's exact bytes, so the
//! signed statement still commits to the whole list, and the list itself travels and
//! is stored only when it changes.
//!
//! ```json
//! {"schema":"attest.inventory-list/v1","packages":[{"name":"adduser","version":"3.134","architecture":"all"}, …]}
//! ```
//!
//! The document is canonical: compact JSON, fields in the order above, packages sorted
//! bytewise by their digest line `NAME TAB VERSION TAB ARCHITECTURE LF` (the order of
//! the `sha256` fact's digest). [`InventoryList::from_slice`] refuses any other bytes
//! for the same list, so one list has one address. It travels to the collector in a
//! DSSE envelope of its own payload type ([`INVENTORY_LIST_PAYLOAD_TYPE`]) signed by
//! the agent's key.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chain::{LINK_PREFIX, is_link};
use crate::error::{ProtoError, echo};
use crate::json::parse_strict;
use crate::keys::sha256_hex;
use crate::limits::MAX_STATEMENT_BYTES;
use crate::report::{REPORT_SCHEMA_V3, Report};

/// The `schema` of an inventory list document.
pub const INVENTORY_LIST_SCHEMA: &str = "attest.inventory-list/v1";

/// The DSSE `payloadType` of a signed inventory list (`POST /v1/inventory-lists`).
pub const INVENTORY_LIST_PAYLOAD_TYPE: &str = "application/vnd.attest.inventory-list+json";

/// The largest inventory list document accepted (as large as a statement may be).
pub const MAX_INVENTORY_LIST_BYTES: usize = MAX_STATEMENT_BYTES;

/// The check whose package list moves into an inventory list.
pub const SOFTWARE_CHECK: &str = "inventory.software";

/// The fact of `inventory.software` that holds the package list inline (v1, v2).
pub const PACKAGES_FACT: &str = "packages";

/// The fact of `inventory.software` that holds the inventory list's address (v3).
pub const INVENTORY_LIST_FACT: &str = "inventory_list";

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
}

impl Package {
    /// The package's line in the `sha256` fact's digest and in the list's order:
    /// `NAME TAB VERSION TAB ARCHITECTURE LF`.
    pub fn digest_line(&self) -> String {
        format!("{}\t{}\t{}\n", self.name, self.version, self.architecture)
    }

    /// The bytes of [`Package::digest_line`], without making the line.
    fn digest_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        let tab = std::iter::once(b'\t');
        self.name
            .bytes()
            .chain(tab.clone())
            .chain(self.version.bytes())
            .chain(tab)
            .chain(self.architecture.bytes())
            .chain(std::iter::once(b'\n'))
    }

    /// The order of the list: by [`Package::digest_line`] (byte order).
    fn digest_order(&self, other: &Package) -> std::cmp::Ordering {
        self.digest_bytes().cmp(other.digest_bytes())
    }
}

/// An inventory list document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryList {
    /// In canonical order (see the module docs).
    pub packages: Vec<Package>,
}

#[derive(Serialize)]
struct WireOut<'a> {
    schema: &'static str,
    packages: &'a [Package],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireIn {
    schema: String,
    #[serde(deserialize_with = "crate::json::objects")]
    packages: Vec<Package>,
}

fn shape(detail: String) -> ProtoError {
    ProtoError::malformed("inventory list", detail)
}

/// `sha256:<hex>` of `bytes`: the address of the inventory list document whose exact
/// bytes these are. The agent, the collector and `verify` all compute it here.
pub fn address(bytes: &[u8]) -> String {
    format!("{LINK_PREFIX}{}", sha256_hex(bytes))
}

/// Whether `s` is an address: `sha256:` and 64 lowercase hex digits.
pub fn is_address(s: &str) -> bool {
    is_link(s)
}

impl InventoryList {
    /// A list of `packages` in any order; sorts them into canonical order.
    pub fn new(mut packages: Vec<Package>) -> Self {
        packages.sort_by_cached_key(Package::digest_line);
        InventoryList { packages }
    }

    /// The canonical bytes (the ones addressed and signed).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ProtoError> {
        let bytes = serde_json::to_vec(&WireOut {
            schema: INVENTORY_LIST_SCHEMA,
            packages: &self.packages,
        })
        .map_err(|e| ProtoError::Internal(format!("serializing an inventory list: {e}")))?;
        if bytes.len() > MAX_INVENTORY_LIST_BYTES {
            return Err(ProtoError::TooLarge {
                what: "inventory list",
                size: bytes.len(),
                limit: MAX_INVENTORY_LIST_BYTES,
            });
        }
        Ok(bytes)
    }

    /// Parses an inventory list strictly and refuses any bytes that are not its
    /// canonical form (other field order, white space, escapes or package order).
    ///
    /// Errors: `too_large`, `too_deeply_nested`, `malformed`.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ProtoError> {
        let wire: WireIn = parse_strict(bytes, "inventory list", MAX_INVENTORY_LIST_BYTES, shape)?;
        if wire.schema != INVENTORY_LIST_SCHEMA {
            return Err(shape(format!(
                "schema is {:?}, expected {INVENTORY_LIST_SCHEMA:?}",
                echo(&wire.schema)
            )));
        }
        let list = InventoryList {
            packages: wire.packages,
        };
        let sorted = list
            .packages
            .windows(2)
            .all(|w| w[0].digest_order(&w[1]).is_le());
        if !sorted || list.to_bytes()? != bytes {
            return Err(shape(
                "not in canonical form (compact JSON, fields in order, packages sorted by \
                 their digest line)"
                    .into(),
            ));
        }
        Ok(list)
    }

    /// The `sha256` fact's digest of these packages: SHA-256 over the sorted digest
    /// lines, `sha256:<hex>`.
    pub fn digest(&self) -> String {
        let mut lines: Vec<String> = self.packages.iter().map(Package::digest_line).collect();
        lines.sort();
        format!("{LINK_PREFIX}{}", sha256_hex(lines.concat().as_bytes()))
    }
}

/// The collector's answer to `POST /v1/inventory-lists`: the address it computed from
/// the list it stored, and whether it held that list already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListReceipt {
    pub address: String,
    /// True when the collector held this list before (from this or another agent).
    pub duplicate: bool,
}

impl ListReceipt {
    /// Parses a receipt strictly (bounded like the other answers the agent reads).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ProtoError> {
        parse_strict(bytes, "inventory list receipt", 4096, |d| {
            ProtoError::malformed("inventory list receipt", d)
        })
    }
}

/// The address a report's `inventory.software` result names (v3), if any.
pub fn address_of(report: &Report) -> Option<&str> {
    report
        .results
        .iter()
        .filter(|r| r.check == SOFTWARE_CHECK)
        .find_map(|r| r.facts.get(INVENTORY_LIST_FACT)?.as_str())
}

/// Moves the package list of `report`'s `inventory.software` result out into an
/// inventory list: the `packages` fact is replaced by the list's address
/// ([`INVENTORY_LIST_FACT`]) and the report's schema becomes
/// [`REPORT_SCHEMA_V3`]. Returns the list and its canonical bytes; `None` (and the
/// report unchanged) when the report has no such result or it carries no package
/// list (e.g. `unknown`: no package database).
pub fn split(report: &mut Report) -> Result<Option<(InventoryList, Vec<u8>)>, ProtoError> {
    let Some(result) = report
        .results
        .iter_mut()
        .find(|r| r.check == SOFTWARE_CHECK && r.facts.contains_key(PACKAGES_FACT))
    else {
        return Ok(None);
    };
    let packages = result
        .facts
        .get(PACKAGES_FACT)
        .cloned()
        .unwrap_or(Value::Null);
    let packages: Vec<Package> = serde_json::from_value(packages).map_err(|e| {
        ProtoError::Internal(format!(
            "the {SOFTWARE_CHECK} result's {PACKAGES_FACT} fact is not a package list: {e}"
        ))
    })?;
    let list = InventoryList::new(packages);
    let bytes = list.to_bytes()?;
    result.facts.remove(PACKAGES_FACT);
    result.facts.insert(
        INVENTORY_LIST_FACT.to_owned(),
        Value::String(address(&bytes)),
    );
    report.schema = REPORT_SCHEMA_V3.to_owned();
    Ok(Some((list, bytes)))
}

/// The report as it reads with its inventory list put back inline (for people: the
/// agent's `collect` output, the collector's views). The address fact stays.
pub fn join(report: &mut Report, list: &InventoryList) {
    for result in report
        .results
        .iter_mut()
        .filter(|r| r.check == SOFTWARE_CHECK && r.facts.contains_key(INVENTORY_LIST_FACT))
    {
        result.facts.insert(
            PACKAGES_FACT.to_owned(),
            serde_json::to_value(&list.packages).unwrap_or(Value::Null),
        );
    }
}

/// The v3 rules of `inventory.software` results, for [`crate::Statement::validate`]:
/// no inline `packages`; an address where one is given must be well formed; an
/// `info` result (a list was read) must give one.
pub(crate) fn validate_v3(report: &Report) -> Result<(), ProtoError> {
    for result in report.results.iter().filter(|r| r.check == SOFTWARE_CHECK) {
        if result.facts.contains_key(PACKAGES_FACT) {
            return Err(ProtoError::NotAStatement(format!(
                "an {REPORT_SCHEMA_V3} report carries the {SOFTWARE_CHECK} package list \
                 inline; it carries the inventory list's address ({INVENTORY_LIST_FACT}) instead"
            )));
        }
        match result.facts.get(INVENTORY_LIST_FACT) {
            Some(Value::String(a)) if is_address(a) => {}
            Some(_) => {
                return Err(ProtoError::NotAStatement(format!(
                    "{SOFTWARE_CHECK} fact {INVENTORY_LIST_FACT} must be \"sha256:\" and 64 \
                     lowercase hex digits"
                )));
            }
            None if result.status == crate::Status::Info => {
                return Err(ProtoError::NotAStatement(format!(
                    "an {REPORT_SCHEMA_V3} {SOFTWARE_CHECK} result lists packages but names \
                     no inventory list ({INVENTORY_LIST_FACT})"
                )));
            }
            None => {}
        }
    }
    Ok(())
}

/// Whether a report uses an inventory list (needs [`REPORT_SCHEMA_V3`]).
pub(crate) fn uses_list(report: &Report) -> bool {
    report
        .results
        .iter()
        .any(|r| r.check == SOFTWARE_CHECK && r.facts.contains_key(INVENTORY_LIST_FACT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{CheckResult, REPORT_SCHEMA_V1, REPORT_SCHEMA_V2, Status};
    use crate::statement::{Statement, tests::sample_report};
    use crate::{ErrorCode, REPORT_SCHEMAS};

    fn pkg(name: &str, version: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            architecture: "amd64".into(),
        }
    }

    fn report_with_packages() -> Report {
        let mut report = sample_report();
        let packages = vec![pkg("zlib1g", "1:1.2.13"), pkg("adduser", "3.134")];
        report.results.push(
            CheckResult::new(SOFTWARE_CHECK, Status::Info, "2 packages are installed.")
                .fact("source", "dpkg")
                .fact("count", 2)
                .fact("sha256", InventoryList::new(packages.clone()).digest())
                .fact(PACKAGES_FACT, &packages),
        );
        report
    }

    /// The order checked on a received list is the order of the digest lines, byte
    /// for byte: names that are prefixes of others, the tab against characters below
    /// and above it, non-ASCII.
    #[test]
    fn the_list_order_is_the_order_of_the_digest_lines() {
        let packages = [
            pkg("a", "1"),
            pkg("a", "10"),
            pkg("a", "1-1"),
            pkg("a-b", "1"),
            pkg("a\u{1}", "1"),
            pkg("a\u{1f}b", "1"),
            pkg("ab", "1"),
            pkg("a", ""),
            pkg("", "1"),
            pkg("é", "1"),
            pkg("e", "1"),
            Package {
                architecture: "arm64".into(),
                ..pkg("a", "1")
            },
        ];
        for x in &packages {
            for y in &packages {
                assert_eq!(
                    x.digest_order(y),
                    x.digest_line().cmp(&y.digest_line()),
                    "{x:?} {y:?}"
                );
            }
        }
    }

    #[test]
    fn address_is_sha256_of_the_exact_bytes() {
        let list = InventoryList::new(vec![pkg("b", "1"), pkg("a", "2")]);
        let bytes = list.to_bytes().unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"schema":"attest.inventory-list/v1","packages":[{"name":"a","version":"2","architecture":"amd64"},{"name":"b","version":"1","architecture":"amd64"}]}"#
        );
        let addr = address(&bytes);
        assert_eq!(addr, format!("sha256:{}", sha256_hex(&bytes)));
        assert!(is_address(&addr));
        // The digest of the `sha256` fact: the sorted lines.
        assert_eq!(
            list.digest(),
            format!("sha256:{}", sha256_hex(b"a\t2\tamd64\nb\t1\tamd64\n"))
        );
        assert_eq!(InventoryList::from_slice(&bytes).unwrap(), list);
    }

    #[test]
    fn a_signed_list_is_not_a_signed_statement() {
        let key = crate::SigningKey::from_bytes(&[7; 32]);
        let bytes = InventoryList::new(vec![pkg("a", "1")]).to_bytes().unwrap();
        let env = crate::Envelope::sign_payload(INVENTORY_LIST_PAYLOAD_TYPE, &bytes, &key);
        let env = crate::Envelope::from_json(&env.to_json().unwrap()).unwrap();
        assert_eq!(
            env.verified_payload_of_type(INVENTORY_LIST_PAYLOAD_TYPE, &key.verifying_key())
                .unwrap(),
            &bytes[..]
        );
        assert_eq!(
            env.verified_payload(&key.verifying_key())
                .unwrap_err()
                .code(),
            ErrorCode::UnsupportedPayloadType
        );
        let other = crate::SigningKey::from_bytes(&[8; 32]);
        assert_eq!(
            env.verified_payload_of_type(INVENTORY_LIST_PAYLOAD_TYPE, &other.verifying_key())
                .unwrap_err()
                .code(),
            ErrorCode::WrongKey
        );
        // A statement envelope does not pass as a list.
        let st = Statement::for_report(sample_report()).to_bytes().unwrap();
        let env = crate::Envelope::sign(&st, &key);
        assert_eq!(
            env.verified_payload_of_type(INVENTORY_LIST_PAYLOAD_TYPE, &key.verifying_key())
                .unwrap_err()
                .code(),
            ErrorCode::UnsupportedPayloadType
        );
    }

    #[test]
    fn only_the_canonical_form_is_read() {
        let bytes = InventoryList::new(vec![pkg("a", "1"), pkg("b", "1")])
            .to_bytes()
            .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let unsorted = text.replace(
            r#"{"name":"a","version":"1","architecture":"amd64"},{"name":"b","version":"1","architecture":"amd64"}"#,
            r#"{"name":"b","version":"1","architecture":"amd64"},{"name":"a","version":"1","architecture":"amd64"}"#,
        );
        assert_ne!(unsorted, text);
        for bad in [
            unsorted,
            text.replacen(',', ", ", 1),
            text.replace("attest.inventory-list/v1", "attest.inventory-list/v2"),
            text.replacen(r#""name":"a""#, r#""name":"a","extra":1"#, 1),
            r#"{"packages":[],"schema":"attest.inventory-list/v1"}"#.to_owned(),
        ] {
            let err = InventoryList::from_slice(bad.as_bytes()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Malformed, "{bad}: {err}");
        }
        assert_eq!(
            InventoryList::from_slice(b"{").unwrap_err().code(),
            ErrorCode::Malformed
        );
    }

    #[test]
    fn split_moves_the_packages_out_and_names_the_list() {
        let mut report = report_with_packages();
        let inline = report.clone();
        let (list, bytes) = split(&mut report).unwrap().unwrap();
        assert_eq!(report.schema, REPORT_SCHEMA_V3);
        assert_eq!(report.required_schema(), REPORT_SCHEMA_V3);
        let sw = report.results.last().unwrap();
        assert!(!sw.facts.contains_key(PACKAGES_FACT));
        assert_eq!(sw.facts[INVENTORY_LIST_FACT], address(&bytes));
        assert_eq!(address_of(&report), Some(address(&bytes).as_str()));
        // The count, source and digest stay, and the digest is the list's.
        assert_eq!(sw.facts["count"], 2);
        assert_eq!(sw.facts["sha256"], list.digest());
        assert_eq!(list.packages[0].name, "adduser");
        // A v3 statement is valid, smaller, and reads back.
        let st = Statement::for_report(report.clone()).to_bytes().unwrap();
        assert!(Statement::from_slice(&st).is_ok());
        let mut inline = inline;
        inline.schema = inline.required_schema().into();
        assert!(st.len() < Statement::for_report(inline).to_bytes().unwrap().len());
        // Joined back, the packages are there for people.
        join(&mut report, &list);
        assert_eq!(
            report.results.last().unwrap().facts[PACKAGES_FACT][1]["name"],
            "zlib1g"
        );
        // Nothing to split: unchanged.
        let mut plain = sample_report();
        assert!(split(&mut plain).unwrap().is_none());
        assert_eq!(plain, sample_report());
    }

    fn code_of(report: &Report) -> ErrorCode {
        Statement::for_report(report.clone())
            .to_bytes()
            .unwrap_err()
            .code()
    }

    #[test]
    fn v3_rules() {
        assert_eq!(REPORT_SCHEMAS.last(), Some(&REPORT_SCHEMA_V3));
        let mut report = report_with_packages();
        split(&mut report).unwrap().unwrap();
        // Inline packages in v3: refused.
        let mut bad = report.clone();
        bad.results.last_mut().unwrap().facts.insert(
            PACKAGES_FACT.into(),
            serde_json::json!([{"name":"a","version":"1","architecture":"all"}]),
        );
        assert_eq!(code_of(&bad), ErrorCode::NotAStatement);
        // No address for a list that was read: refused.
        let mut bad = report.clone();
        bad.results
            .last_mut()
            .unwrap()
            .facts
            .remove(INVENTORY_LIST_FACT);
        assert_eq!(code_of(&bad), ErrorCode::NotAStatement);
        // A malformed address: refused.
        for a in [
            serde_json::json!("sha256:00"),
            serde_json::json!(7),
            serde_json::json!(format!("sha256:{}", "A".repeat(64))),
        ] {
            let mut bad = report.clone();
            bad.results
                .last_mut()
                .unwrap()
                .facts
                .insert(INVENTORY_LIST_FACT.into(), a.clone());
            assert_eq!(code_of(&bad), ErrorCode::NotAStatement, "{a}");
        }
        // An address in a report that says v1 or v2: refused (needs v3).
        for schema in [REPORT_SCHEMA_V1, REPORT_SCHEMA_V2] {
            let mut bad = report.clone();
            bad.schema = schema.into();
            assert_eq!(code_of(&bad), ErrorCode::NotAStatement, "{schema}");
        }
        // An unknown inventory.software result (no list) is fine in v3.
        let mut unknown = sample_report();
        unknown.schema = REPORT_SCHEMA_V3.into();
        unknown.results.push(CheckResult::undecided(
            SOFTWARE_CHECK,
            Status::Unknown,
            "no package database",
        ));
        assert!(Statement::for_report(unknown).to_bytes().is_ok());
    }

    #[test]
    fn v1_and_v2_with_inline_packages_are_unchanged() {
        let report = report_with_packages();
        assert_eq!(report.required_schema(), REPORT_SCHEMA_V1);
        for schema in [REPORT_SCHEMA_V1, REPORT_SCHEMA_V2] {
            let mut r = report.clone();
            r.schema = schema.into();
            let bytes = Statement::for_report(r.clone()).to_bytes().unwrap();
            assert_eq!(Statement::from_slice(&bytes).unwrap().predicate, r);
        }
    }
}
