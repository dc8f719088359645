//! Which directory a Windows machine is joined to (catalogue 3.1, last bullet):
//! the fact `directory`, one of `none`, `ad`, `entra`, `hybrid`.
//!
//! - **AD**: live or captured `NetGetJoinInformation` (`win.api.join_information`)
//!   status 3 (`NetSetupDomainName`); 0, 1 and 2 are not joined. Where the api
//!   does not answer (offline root, not captured, not in this build):
//!   `HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters\Domain` is a
//!   non-empty string **and** the default value of `HKLM\SECURITY\Policy\PolPrDmS`
//!   (the primary domain's SID) is a SID. A workgroup machine has no primary-domain
//!   SID there (a DNS suffix alone sets `Domain` too, hence both).
//! - **Entra ID**: `HKLM\SYSTEM\CurrentControlSet\Control\CloudDomainJoin\JoinInfo`
//!   has at least one subkey (one per join certificate), live and offline alike.
//!   The key absent is not joined.
//! - Both is `hybrid`.
//!
//! Read once per run ([`directory`]); a source that cannot be read makes the whole
//! answer an `Err` with the reason, never a guess.

use attest_proto::Evidence;
use serde::Serialize;
use serde_json::Value;

use super::{Reg, clip, read_reg};
use crate::checks::{Context, api_evidence};
use crate::host::SourceError;
use crate::host::sources::WIN_JOIN_INFORMATION;

/// The directory a machine is joined to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Directory {
    None,
    Ad,
    Entra,
    Hybrid,
}

impl Directory {
    /// `none`, `ad`, `entra`, `hybrid`: the fact's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Directory::None => "none",
            Directory::Ad => "ad",
            Directory::Entra => "entra",
            Directory::Hybrid => "hybrid",
        }
    }
}

/// The join state and what it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub directory: Directory,
    /// The AD domain's name when joined to one (from the api or `Tcpip\Domain`).
    pub ad_domain: Option<String>,
    /// The sources read.
    pub evidence: Vec<Evidence>,
}

/// The memoised answer.
struct Memo(Result<Membership, String>);

/// The machine's directory membership (once per run), or why it cannot be told.
pub fn directory(ctx: &Context<'_>) -> Result<Membership, String> {
    ctx.memo(|ctx| Memo(read(ctx))).0.clone()
}

/// True when an api error means "ask the files instead".
pub(crate) fn use_files(e: &SourceError) -> bool {
    matches!(
        e,
        SourceError::Offline { .. }
            | SourceError::NotCaptured { .. }
            | SourceError::Unsupported { .. }
    )
}

/// The AD domain joined, from `NetGetJoinInformation`'s `{"name", "status"}`:
/// `Some(name)` for status 3, `None` for 0 to 2.
pub fn parse_join_information(v: &Value) -> Result<Option<String>, String> {
    let what = WIN_JOIN_INFORMATION.describe();
    let status = v
        .get("status")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("{what}: status not captured as an integer"))?;
    match status {
        3 => Ok(Some(
            v.get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        )),
        0..=2 => Ok(None),
        n => Err(format!("{what}: status {n} is not a NETSETUP_JOIN_STATUS")),
    }
}

fn read(ctx: &Context<'_>) -> Result<Membership, String> {
    let mut evidence = Vec::new();
    let ad_domain = match ctx.host.api(&WIN_JOIN_INFORMATION) {
        Ok(out) => {
            let joined = parse_join_information(&out.value)?;
            let status = out.value.get("status").cloned().unwrap_or(Value::Null);
            evidence.push(api_evidence(&out, format!("status = {status}")));
            joined
        }
        Err(e) if use_files(&e) => offline_ad(ctx, &mut evidence)?,
        Err(e) => return Err(e.to_string()),
    };
    let join_info = "SYSTEM\\CurrentControlSet\\Control\\CloudDomainJoin\\JoinInfo";
    let entra = match ctx.host.registry_subkeys(join_info) {
        Ok(keys) => {
            evidence.push(super::accounts::key_evidence(
                ctx,
                join_info,
                format!("HKLM\\{join_info}: {} join certificate subkeys", keys.len()),
            ));
            !keys.is_empty()
        }
        Err(SourceError::NotInstalled { .. }) => false,
        Err(e) => return Err(e.to_string()),
    };
    let directory = match (ad_domain.is_some(), entra) {
        (true, true) => Directory::Hybrid,
        (true, false) => Directory::Ad,
        (false, true) => Directory::Entra,
        (false, false) => Directory::None,
    };
    Ok(Membership {
        directory,
        ad_domain,
        evidence,
    })
}

/// Offline AD membership: `Tcpip\Parameters\Domain` and a SID in `PolPrDmS`.
fn offline_ad(ctx: &Context<'_>, evidence: &mut Vec<Evidence>) -> Result<Option<String>, String> {
    let domain = read_reg(
        ctx,
        "SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters",
        "Domain",
    );
    let name = match &domain.got {
        Reg::Unread(why) => return Err(why.clone()),
        Reg::Set(_) => domain.string().map(str::to_owned).filter(|s| !s.is_empty()),
        Reg::Absent => None,
    };
    evidence.extend(domain.evidence());
    let Some(name) = name else {
        return Ok(None);
    };
    let sid = read_reg(ctx, "SECURITY\\Policy\\PolPrDmS", "");
    let has_sid = match &sid.got {
        Reg::Unread(why) => return Err(why.clone()),
        Reg::Absent => false,
        Reg::Set(crate::host::RegistryValue::Binary(b)) => {
            super::accounts::sam::parse_sid(b).is_ok()
        }
        Reg::Set(_) => false,
    };
    evidence.extend(sid.evidence());
    Ok(has_sid.then(|| clip(&name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::host::RegistryValue;
    use crate::host::fake::{FakeHost, default_now};
    use serde_json::json;

    const TCPIP: &str = "SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters";
    const JOIN_INFO: &str = "SYSTEM\\CurrentControlSet\\Control\\CloudDomainJoin\\JoinInfo";

    fn answer(fake: &FakeHost) -> Result<Membership, String> {
        let host = fake.host();
        let thresholds = Thresholds::default();
        let ctx = Context::new(&host, default_now(), &thresholds);
        directory(&ctx)
    }

    fn domain_sid() -> Vec<u8> {
        super::super::accounts::sam::testdata::sid(5, &[21, 11, 22, 33])
    }

    #[test]
    fn the_api_decides_ad_membership_where_it_answers() {
        let joined = FakeHost::windows()
            .api(&WIN_JOIN_INFORMATION, json!({"name": "CORP", "status": 3}))
            .reg_key("SOFTWARE");
        let m = answer(&joined).unwrap();
        assert_eq!(
            (m.directory, m.ad_domain.as_deref()),
            (Directory::Ad, Some("CORP"))
        );
        let workgroup = FakeHost::windows()
            .api(
                &WIN_JOIN_INFORMATION,
                json!({"name": "WORKGROUP", "status": 2}),
            )
            .reg_key(&format!("{JOIN_INFO}\\ABCDEF"));
        assert_eq!(answer(&workgroup).unwrap().directory, Directory::Entra);
        let hybrid = joined.clone().reg_key(&format!("{JOIN_INFO}\\ABCDEF"));
        assert_eq!(answer(&hybrid).unwrap().directory, Directory::Hybrid);
        let bad = FakeHost::windows().api(&WIN_JOIN_INFORMATION, json!({"status": 7}));
        assert!(answer(&bad).unwrap_err().contains("status 7"));
        let failed = FakeHost::windows().source_error(&WIN_JOIN_INFORMATION, "access denied");
        assert!(answer(&failed).unwrap_err().contains("access denied"));
    }

    #[test]
    fn offline_ad_needs_the_domain_name_and_a_primary_domain_sid() {
        let both = FakeHost::windows()
            .reg_value(
                TCPIP,
                "Domain",
                RegistryValue::String("corp.example".into()),
            )
            .reg_value(
                "SECURITY\\Policy\\PolPrDmS",
                "",
                RegistryValue::Binary(domain_sid()),
            );
        let m = answer(&both).unwrap();
        assert_eq!(m.directory, Directory::Ad);
        assert_eq!(m.ad_domain.as_deref(), Some("corp.example"));
        assert_eq!(m.evidence.len(), 2);
        // A DNS suffix without a primary-domain SID: a workgroup machine.
        let suffix_only = FakeHost::windows()
            .reg_value(
                TCPIP,
                "Domain",
                RegistryValue::String("corp.example".into()),
            )
            .reg_value(
                "SECURITY\\Policy\\PolPrDmS",
                "",
                RegistryValue::Binary(vec![0; 4]),
            );
        assert_eq!(answer(&suffix_only).unwrap().directory, Directory::None);
        let nothing =
            FakeHost::windows().reg_value(TCPIP, "Domain", RegistryValue::String(String::new()));
        assert_eq!(answer(&nothing).unwrap().directory, Directory::None);
        // SECURITY unreadable: cannot tell.
        let denied = FakeHost::windows()
            .reg_value(
                TCPIP,
                "Domain",
                RegistryValue::String("corp.example".into()),
            )
            .reg_error("SECURITY\\Policy\\PolPrDmS", "access denied");
        assert!(answer(&denied).unwrap_err().contains("access denied"));
        let entra_denied = FakeHost::windows()
            .reg_key(TCPIP)
            .reg_error(JOIN_INFO, "damaged hive");
        assert!(answer(&entra_denied).unwrap_err().contains("damaged hive"));
    }
}
