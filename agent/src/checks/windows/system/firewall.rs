//! `system.firewall` on Windows: the three Windows Firewall profiles and its
//! service, or on a client a third-party firewall registered with Security
//! Center.

use attest_proto::{CheckResult, Status};
use serde::Serialize;
use serde_json::Value;

use super::{Effective, Origin, Service, Verdict, policy_dword, service};
use crate::checks::windows::support::{Kind, read_identity};
use crate::checks::windows::{RegRead, clip, read_reg};
use crate::checks::{Check, Context, api_evidence};
use crate::host::sources::{WIN_FIREWALL_PROFILES, WIN_WSC_PRODUCTS};

const ID: &str = "system.firewall";

/// Group policy of the firewall (wins over the local store).
pub const POLICY: &str = "SOFTWARE\\Policies\\Microsoft\\WindowsFirewall";
/// The local store of the firewall's settings.
pub const LOCAL: &str =
    "SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy";

/// A firewall profile: its name, the API's `NET_FW_PROFILE_TYPE2` bit, and its
/// key in the policy and in the local store. The private profile is
/// **PrivateProfile** in policy but **StandardProfile** in the local store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    pub bit: u64,
    pub policy_key: &'static str,
    pub local_key: &'static str,
}

pub const PROFILES: [Profile; 3] = [
    Profile {
        name: "Domain",
        bit: 1,
        policy_key: "DomainProfile",
        local_key: "DomainProfile",
    },
    Profile {
        name: "Private",
        bit: 2,
        policy_key: "PrivateProfile",
        local_key: "StandardProfile",
    },
    Profile {
        name: "Public",
        bit: 4,
        policy_key: "PublicProfile",
        local_key: "PublicProfile",
    },
];

/// One profile's state as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileState {
    pub profile: &'static str,
    /// `None`: could not be read.
    pub enabled: Option<bool>,
    pub origin: Option<Origin>,
}

/// The profiles of a `win.api.firewall_profiles` answer (`{"profiles":
/// [{"profile", "type", "enabled"}]}`): each profile is found by its name or its
/// type bit; a missing profile is an error.
pub fn parse_profiles(value: &Value) -> Result<Vec<ProfileState>, String> {
    let what = WIN_FIREWALL_PROFILES.describe();
    let list = value
        .get("profiles")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{what}: no profiles array"))?;
    PROFILES
        .iter()
        .map(|p| {
            let entry = list
                .iter()
                .find(|e| {
                    e.get("profile")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(p.name))
                        || e.get("type").and_then(Value::as_u64) == Some(p.bit)
                })
                .ok_or_else(|| format!("{what}: the {} profile not captured", p.name))?;
            let enabled = entry
                .get("enabled")
                .and_then(Value::as_bool)
                .ok_or_else(|| {
                    format!("{what}: the {} profile's enabled is not a boolean", p.name)
                })?;
            Ok(ProfileState {
                profile: p.name,
                enabled: Some(enabled),
                origin: Some(Origin::Api),
            })
        })
        .collect()
}

/// The profile's `EnableFirewall` from the registry: policy wins, else the local
/// store, else on (Windows's default). `Err`: a value that decides is unread.
pub fn registry_profile(policy: &RegRead, local: &RegRead) -> Result<Effective<u32>, String> {
    policy_dword(policy, local, 1)
}

/// A Security Center firewall product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    pub name: String,
    pub product_state: Option<u64>,
}

/// The `firewall` list of `win.wsc.products` (`WSC_SECURITY_PRODUCT_STATE`: 0 on).
pub fn parse_wsc_firewalls(value: &Value) -> Result<Vec<Product>, String> {
    let what = WIN_WSC_PRODUCTS.describe();
    let list = value
        .get("firewall")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{what}: no firewall list"))?;
    Ok(list
        .iter()
        .map(|p| Product {
            name: clip(p.get("name").and_then(Value::as_str).unwrap_or("")),
            product_state: p.get("product_state").and_then(Value::as_u64),
        })
        .collect())
}

/// `system.firewall` on Windows.
///
/// The profiles: live or captured `INetFwPolicy2.FirewallEnabled` per profile
/// (`win.api.firewall_profiles`, effective: policy applied); when that source
/// gives no answer (offline, not captured, not in this build), the registry:
/// `HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall\{DomainProfile,PrivateProfile,PublicProfile}\EnableFirewall`
/// wins over the local store
/// `HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\{DomainProfile,StandardProfile,PublicProfile}\EnableFirewall`
/// (the private profile is `StandardProfile` there), and absent in both means on
/// (Windows's default). The service is `MpsSvc` (`Start` ≠ 4).
///
/// - pass: the three profiles on and `MpsSvc` not disabled; or, on a client
///   (`ProductType` `WinNT`), a firewall product registered with Security Center
///   (`win.wsc.products`, `firewall` list) with `product_state` 0 (on);
/// - fail: a profile off or `MpsSvc` disabled/not installed, and no such product
///   (on a server Security Center does not exist, so no product is looked for);
/// - unknown: a value unread; or a profile off on a client whose Security Center
///   products could not be read (offline, for instance): a third-party firewall
///   may be the one in charge.
pub struct Firewall;

impl Check for Firewall {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let mut v = Verdict::default();
        let profiles: Vec<ProfileState> = match ctx
            .host
            .api(&WIN_FIREWALL_PROFILES)
            .map_err(|e| e.to_string())
            .and_then(|out| {
                let parsed = parse_profiles(&out.value);
                let excerpt = match &parsed {
                    Ok(p) => p
                        .iter()
                        .map(|s| format!("{} enabled = {}", s.profile, s.enabled.unwrap_or(false)))
                        .collect::<Vec<_>>()
                        .join("; "),
                    Err(_) => String::new(),
                };
                v.evidence.push(api_evidence(&out, excerpt));
                parsed
            }) {
            Ok(p) => p,
            Err(api_error) => {
                v.unanswered(api_error);
                PROFILES
                    .iter()
                    .map(|p| {
                        let policy = read_reg(
                            ctx,
                            &format!("{POLICY}\\{}", p.policy_key),
                            "EnableFirewall",
                        );
                        let local =
                            read_reg(ctx, &format!("{LOCAL}\\{}", p.local_key), "EnableFirewall");
                        v.read(&[&policy, &local]);
                        match registry_profile(&policy, &local) {
                            Ok(e) => ProfileState {
                                profile: p.name,
                                enabled: Some(e.value != 0),
                                origin: Some(e.origin),
                            },
                            Err(why) => {
                                v.unknown(why);
                                ProfileState {
                                    profile: p.name,
                                    enabled: None,
                                    origin: None,
                                }
                            }
                        }
                    })
                    .collect()
            }
        };
        let off: Vec<&str> = profiles
            .iter()
            .filter(|p| p.enabled == Some(false))
            .map(|p| p.profile)
            .collect();
        if off.is_empty() {
            if profiles.iter().all(|p| p.enabled == Some(true)) {
                v.pass("Windows Firewall is on for the Domain, Private and Public profiles");
            }
        } else {
            v.fail(format!(
                "Windows Firewall is off for the {} profile(s)",
                off.join(", ")
            ));
        }
        let (svc, svc_read) = service(ctx, "MpsSvc");
        v.read(&[&svc_read]);
        match &svc {
            Service::Disabled => v.fail("the firewall service MpsSvc is disabled (Start = 4)"),
            Service::Absent => v.fail("the firewall service MpsSvc is not installed"),
            Service::Unread(e) => v.unknown(e.clone()),
            Service::Enabled(_) => {}
        }

        // A third-party firewall, on clients, when Windows Firewall does not pass.
        let mut products: Option<Vec<Product>> = None;
        let mut kind_fact = None;
        if v.status() != Status::Pass {
            let (identity, identity_reads) = read_identity(ctx);
            v.read(&crate::checks::windows::autoupdate::product_type_read(
                &identity_reads,
            ));
            match identity.and_then(|i| i.kind()) {
                Ok(Kind::Server) => kind_fact = Some("server"),
                Ok(Kind::Client) => {
                    kind_fact = Some("client");
                    match ctx.host.api(&WIN_WSC_PRODUCTS) {
                        Ok(out) => match parse_wsc_firewalls(&out.value) {
                            Ok(list) => {
                                let on: Vec<&Product> =
                                    list.iter().filter(|p| p.product_state == Some(0)).collect();
                                v.evidence.push(api_evidence(
                                    &out,
                                    list.iter()
                                        .map(|p| {
                                            format!(
                                                "firewall {:?} product_state {:?}",
                                                p.name, p.product_state
                                            )
                                        })
                                        .collect::<Vec<_>>()
                                        .join("; "),
                                ));
                                if let Some(first) = on.first() {
                                    v.overrule(format!(
                                        "the firewall {:?} is registered with Security Center and \
                                         on (Windows Firewall itself does not pass)",
                                        first.name
                                    ));
                                }
                                products = Some(list);
                            }
                            Err(e) => third_party_unread(&mut v, e),
                        },
                        Err(e) => third_party_unread(&mut v, e.to_string()),
                    }
                }
                Err(e) => third_party_unread(&mut v, e),
            }
        }
        v.finish(ID)
            .fact("profiles", &profiles)
            .fact(
                "profile_default",
                "absent in policy and local store means on",
            )
            .fact("mpssvc_start", svc.fact())
            .fact("product_kind", kind_fact)
            .fact("security_center_firewalls", products)
    }
}

/// Security Center (or whether this is a client) could not be read while
/// Windows Firewall fails: the fail becomes unknown, since a third-party
/// firewall may be in charge.
fn third_party_unread(v: &mut Verdict, why: String) {
    v.fail_undecided(&format!(
        "whether a third-party firewall is registered with Security Center is not known: {why}"
    ));
}

#[cfg(test)]
mod tests {
    use super::super::SERVICES;
    use super::super::testing::well_formed;
    use super::*;
    use crate::host::RegistryValue;
    use crate::host::fake::FakeHost;
    use serde_json::json;

    const PT: &str = "SYSTEM\\CurrentControlSet\\Control\\ProductOptions";
    const CV: &str = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion";

    fn host(product_type: &str) -> FakeHost {
        let sz = |s: &str| RegistryValue::String(s.into());
        FakeHost::windows()
            .reg_value(
                &format!("{SERVICES}\\MpsSvc"),
                "Start",
                RegistryValue::Dword(2),
            )
            .reg_value(PT, "ProductType", sz(product_type))
            .reg_value(CV, "CurrentBuild", sz("26100"))
            .reg_value(CV, "EditionID", sz("Enterprise"))
    }

    fn local(h: FakeHost, key: &str, v: u32) -> FakeHost {
        h.reg_value(
            &format!("{LOCAL}\\{key}"),
            "EnableFirewall",
            RegistryValue::Dword(v),
        )
    }

    fn policy(h: FakeHost, key: &str, v: u32) -> FakeHost {
        h.reg_value(
            &format!("{POLICY}\\{key}"),
            "EnableFirewall",
            RegistryValue::Dword(v),
        )
    }

    fn api(domain: bool, private: bool, public: bool) -> Value {
        json!({"profiles": [
            {"profile": "Domain", "type": 1, "enabled": domain},
            {"profile": "Private", "type": 2, "enabled": private},
            {"profile": "Public", "type": 4, "enabled": public}],
            "current_profile_types": 2})
    }

    fn run(h: &FakeHost) -> CheckResult {
        let r = h.run(&Firewall);
        well_formed(&r);
        r
    }

    #[test]
    fn absent_values_mean_on_and_pass() {
        let r = run(&host("WinNT"));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.facts["profiles"][1],
            json!({"profile": "Private", "enabled": true, "origin": "default"})
        );
        // Offline the api source is unanswered, and says so.
        assert!(
            r.facts["unanswered"][0]
                .as_str()
                .unwrap()
                .contains("offline root")
        );
    }

    /// The local store calls the private profile StandardProfile; a
    /// `PrivateProfile` key there means nothing.
    #[test]
    fn standard_in_the_local_store_is_private() {
        let r = run(&local(host("ServerNT"), "StandardProfile", 0));
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(r.summary.contains("Private"), "{}", r.summary);
        let r = run(&local(host("ServerNT"), "PrivateProfile", 0));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        // And policy calls it PrivateProfile.
        let r = run(&policy(host("ServerNT"), "PrivateProfile", 0));
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["profiles"][1]["origin"], "policy");
    }

    #[test]
    fn policy_beats_the_local_store() {
        let h = policy(
            local(host("ServerNT"), "PublicProfile", 0),
            "PublicProfile",
            1,
        );
        assert_eq!(run(&h).status, Status::Pass);
        let h = policy(
            local(host("ServerNT"), "DomainProfile", 1),
            "DomainProfile",
            0,
        );
        let r = run(&h);
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("Domain"));
    }

    #[test]
    fn a_disabled_service_fails() {
        let h = host("ServerNT").reg_value(
            &format!("{SERVICES}\\MpsSvc"),
            "Start",
            RegistryValue::Dword(4),
        );
        let r = run(&h);
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("MpsSvc"));
    }

    #[test]
    fn the_api_decides_when_it_answers() {
        // The registry says off, the effective state says on: the api decides.
        let h = local(host("WinNT"), "PublicProfile", 0)
            .live()
            .api(&WIN_FIREWALL_PROFILES, api(true, true, true));
        let r = run(&h);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["profiles"][2]["origin"], "api");
        let h = host("ServerNT").api(&WIN_FIREWALL_PROFILES, api(true, false, true));
        assert_eq!(run(&h).status, Status::Fail);
        // A capture missing a profile: the registry stands in.
        let h = host("ServerNT").api(&WIN_FIREWALL_PROFILES, json!({"profiles": []}));
        let r = run(&h);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.facts["unanswered"][0]
                .as_str()
                .unwrap()
                .contains("Domain profile not captured")
        );
    }

    #[test]
    fn a_third_party_firewall_on_a_client_passes() {
        let wsc = |state: u64| json!({"antivirus": [], "firewall": [{"name": "Contoso Firewall", "product_state": state}]});
        let h = host("WinNT")
            .api(&WIN_FIREWALL_PROFILES, api(false, false, false))
            .api(&WIN_WSC_PRODUCTS, wsc(0));
        let r = run(&h);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(r.summary.contains("Contoso Firewall"));
        assert_eq!(r.facts["profiles"][0]["enabled"], false);
        assert!(r.facts.get("unanswered").is_none(), "{r:?}");
        // Off in Security Center: fails.
        let h = host("WinNT")
            .api(&WIN_FIREWALL_PROFILES, api(false, true, true))
            .api(&WIN_WSC_PRODUCTS, wsc(1));
        assert_eq!(run(&h).status, Status::Fail);
        // On a server Security Center is never asked.
        let h = host("ServerNT")
            .api(&WIN_FIREWALL_PROFILES, api(false, true, true))
            .api(&WIN_WSC_PRODUCTS, wsc(0));
        let r = run(&h);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.facts["product_kind"], "server");
    }

    #[test]
    fn unread_values_are_unknown() {
        // An off profile on a client whose Security Center is not captured.
        let r = run(&local(host("WinNT"), "PublicProfile", 0));
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("third-party firewall"));
        // The local store unreadable.
        let h = host("ServerNT").reg_error(&format!("{LOCAL}\\DomainProfile"), "access denied");
        let r = run(&h);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("access denied"));
        // Nothing readable at all.
        assert_eq!(run(&FakeHost::windows()).status, Status::Unknown);
    }
}
