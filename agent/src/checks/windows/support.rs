//! `patch.os_supported` on Windows: the support table (data, in
//! `agent/data/windows-support.toml`) keyed by (client/server, build, edition
//! class), the pure decider, and the check that reads the OS identity from the
//! registry.

use std::sync::OnceLock;

use attest_proto::{CheckResult, Evidence, Status};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

use super::{RegRead, clip, instances, read_reg};
use crate::checks::{Check, Context, api_evidence, unknown};
use crate::host::sources::WIN_LICENSING_ESU;

/// The table as shipped in the agent's source.
const TABLE_TOML: &str = include_str!("../../../data/windows-support.toml");

/// Client (`WinNT`) or server (`ServerNT`, `LanmanNT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Client,
    Server,
}

/// The edition classes of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EditionClass {
    Consumer,
    Enterprise,
    Ltsc,
    IotLtsc,
    Server,
}

impl EditionClass {
    fn word(self) -> &'static str {
        match self {
            EditionClass::Consumer => "consumer",
            EditionClass::Enterprise => "enterprise",
            EditionClass::Ltsc => "ltsc",
            EditionClass::IotLtsc => "iot_ltsc",
            EditionClass::Server => "server",
        }
    }
}

/// One product of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub kind: Kind,
    pub build: u32,
    pub edition: EditionClass,
    pub product: String,
    pub last_day: NaiveDate,
    pub approximate: bool,
    pub source: String,
}

/// An ESU licence the table knows, by activation ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsuLicence {
    pub activation_id: String,
    pub name: String,
    pub through: NaiveDate,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub rows: Vec<Row>,
    /// `EditionID` → class (the client classes).
    pub editions: Vec<(String, EditionClass)>,
    /// Client builds below this one without a row have ended.
    pub unlisted_builds_ended_below: u32,
    /// The build ESU applies to (Windows 10 22H2).
    pub esu_build: u32,
    pub esu_licences: Vec<EsuLicence>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    editions: EditionsFile,
    client: ClientFile,
    esu: EsuFile,
    row: Vec<RawRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditionsFile {
    consumer: Vec<String>,
    enterprise: Vec<String>,
    ltsc: Vec<String>,
    iot_ltsc: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    unlisted_builds_ended_below: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EsuFile {
    build: u32,
    licence: Vec<RawLicence>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLicence {
    activation_id: String,
    name: String,
    through: toml::value::Datetime,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    kind: Kind,
    build: u32,
    edition: EditionClass,
    product: String,
    last_day: toml::value::Datetime,
    approximate: bool,
    source: String,
}

/// Why the table could not be read (only a broken build can hit this; a test
/// reads the shipped table).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("the Windows support table is not valid TOML: {0}")]
    Toml(String),
    #[error("the Windows support table: {0}: not a plain date")]
    Date(String),
    #[error("the Windows support table lists {0} twice")]
    Duplicate(String),
    #[error("the Windows support table: {0}: a server row must have edition server, and only it")]
    ServerEdition(String),
}

fn date(value: &toml::value::Datetime, what: &str) -> Result<NaiveDate, TableError> {
    match (value.date, value.time, value.offset) {
        (Some(d), None, None) => {
            NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
        }
        _ => None,
    }
    .ok_or_else(|| TableError::Date(what.to_owned()))
}

/// Parses a support table.
pub fn parse_table(text: &str) -> Result<Table, TableError> {
    let file: TableFile = toml::from_str(text).map_err(|e| TableError::Toml(e.to_string()))?;
    let mut rows: Vec<Row> = Vec::with_capacity(file.row.len());
    for raw in file.row {
        let what = format!("{:?} build {} {}", raw.kind, raw.build, raw.edition.word());
        if (raw.kind == Kind::Server) != (raw.edition == EditionClass::Server) {
            return Err(TableError::ServerEdition(what));
        }
        if rows
            .iter()
            .any(|r| (r.kind, r.build, r.edition) == (raw.kind, raw.build, raw.edition))
        {
            return Err(TableError::Duplicate(what));
        }
        rows.push(Row {
            last_day: date(&raw.last_day, &what)?,
            kind: raw.kind,
            build: raw.build,
            edition: raw.edition,
            product: raw.product,
            approximate: raw.approximate,
            source: raw.source,
        });
    }
    let mut editions = Vec::new();
    for (class, ids) in [
        (EditionClass::Consumer, file.editions.consumer),
        (EditionClass::Enterprise, file.editions.enterprise),
        (EditionClass::Ltsc, file.editions.ltsc),
        (EditionClass::IotLtsc, file.editions.iot_ltsc),
    ] {
        for id in ids {
            if editions
                .iter()
                .any(|(e, _): &(String, EditionClass)| e.eq_ignore_ascii_case(&id))
            {
                return Err(TableError::Duplicate(format!("EditionID {id}")));
            }
            editions.push((id, class));
        }
    }
    let esu_licences = file
        .esu
        .licence
        .into_iter()
        .map(|l| {
            Ok(EsuLicence {
                through: date(&l.through, &l.name)?,
                activation_id: l.activation_id,
                name: l.name,
            })
        })
        .collect::<Result<_, TableError>>()?;
    Ok(Table {
        rows,
        editions,
        unlisted_builds_ended_below: file.client.unlisted_builds_ended_below,
        esu_build: file.esu.build,
        esu_licences,
    })
}

/// The shipped table with the agent configuration's ESU licences added
/// (`[[thresholds.windows_esu_licence]]`); a configured `through` that is not a
/// plain date is an error naming the licence.
pub fn with_configured_licences(
    shipped: &Table,
    configured: &[crate::checks::EsuLicenceSetting],
) -> Result<Table, TableError> {
    let mut table = shipped.clone();
    for l in configured {
        table.esu_licences.push(EsuLicence {
            through: date(&l.through, &format!("configured ESU licence {:?}", l.name))?,
            activation_id: l.activation_id.clone(),
            name: l.name.clone(),
        });
    }
    Ok(table)
}

/// The shipped table, parsed once per process.
pub fn table() -> &'static Result<Table, TableError> {
    static TABLE: OnceLock<Result<Table, TableError>> = OnceLock::new();
    TABLE.get_or_init(|| parse_table(TABLE_TOML))
}

/// What the registry says the OS is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// `CurrentBuild`.
    pub build: u32,
    pub ubr: Option<u32>,
    pub edition_id: String,
    pub display_version: Option<String>,
    pub installation_type: Option<String>,
    /// `ProductType`: `WinNT`, `ServerNT`, `LanmanNT`.
    pub product_type: String,
}

impl Identity {
    /// Client or server, from `ProductType` (never from `EditionID` or
    /// `InstallationType`).
    pub fn kind(&self) -> Result<Kind, String> {
        match self.product_type.as_str() {
            "WinNT" => Ok(Kind::Client),
            "ServerNT" | "LanmanNT" => Ok(Kind::Server),
            other => Err(format!(
                "ProductType {:?} is none of WinNT, ServerNT, LanmanNT",
                clip(other)
            )),
        }
    }

    /// `Windows 11` (a client of build 22000 or later), `Windows 10`, or
    /// `Windows Server`. `ProductName` is never read: it says "Windows 10" on
    /// Windows 11.
    pub fn family(&self) -> Option<&'static str> {
        match self.kind().ok()? {
            Kind::Server => Some("Windows Server"),
            Kind::Client if self.build >= 22000 => Some("Windows 11"),
            Kind::Client => Some("Windows 10"),
        }
    }

    /// `26100.4460`.
    pub fn full_build(&self) -> String {
        match self.ubr {
            Some(u) => format!("{}.{u}", self.build),
            None => self.build.to_string(),
        }
    }
}

/// The edition class of an identity: `server` for every server, else the
/// table's class of its `EditionID` (case-insensitive).
pub fn edition_class(table: &Table, id: &Identity) -> Result<EditionClass, String> {
    match id.kind()? {
        Kind::Server => Ok(EditionClass::Server),
        Kind::Client => table
            .editions
            .iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(&id.edition_id))
            .map(|(_, c)| *c)
            .ok_or_else(|| {
                format!(
                    "EditionID {:?} is in none of the support table's edition classes",
                    clip(&id.edition_id)
                )
            }),
    }
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support<'a> {
    /// Supported through the row's last day (inclusive).
    Until { row: &'a Row },
    /// Past the row's last day, but an ESU licence runs through `licence.through`.
    Esu {
        row: &'a Row,
        licence: &'a EsuLicence,
    },
    /// Past the row's last day; `esu` when ESU could have extended it.
    Ended { row: &'a Row, esu: bool },
    /// A client build without a row, older than every listed Windows 10 release.
    EndedUnlisted,
    /// Not decidable: why.
    Unknown(String),
}

/// Decides support of `id` on `date`. `active_ids` are the activation IDs of
/// the active licences (`Err`: not read); they matter only for the ESU build.
pub fn decide<'a>(
    table: &'a Table,
    id: &Identity,
    date: NaiveDate,
    active_ids: &Result<Vec<String>, String>,
) -> Support<'a> {
    let kind = match id.kind() {
        Ok(k) => k,
        Err(e) => return Support::Unknown(e),
    };
    let class = match edition_class(table, id) {
        Ok(c) => c,
        Err(e) => return Support::Unknown(e),
    };
    let Some(row) = table
        .rows
        .iter()
        .find(|r| (r.kind, r.build, r.edition) == (kind, id.build, class))
    else {
        if kind == Kind::Client
            && id.build < table.unlisted_builds_ended_below
            && !table.rows.iter().any(|r| r.build == id.build)
        {
            return Support::EndedUnlisted;
        }
        return Support::Unknown(format!(
            "build {} with edition class {} ({:?}) is not in the agent's Windows support table",
            id.build,
            class.word(),
            kind
        ));
    };
    if date <= row.last_day {
        return Support::Until { row };
    }
    if kind != Kind::Client || id.build != table.esu_build {
        return Support::Ended { row, esu: false };
    }
    let licence = active_ids.as_ref().ok().and_then(|ids| {
        table.esu_licences.iter().find(|l| {
            date <= l.through && ids.iter().any(|i| i.eq_ignore_ascii_case(&l.activation_id))
        })
    });
    match licence {
        Some(licence) => Support::Esu { row, licence },
        None => Support::Ended { row, esu: true },
    }
}

const CURRENT_VERSION: &str = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion";
const PRODUCT_OPTIONS: &str = "SYSTEM\\CurrentControlSet\\Control\\ProductOptions";

/// A required REG_SZ.
fn required(read: &RegRead) -> Result<String, String> {
    if let Some(why) = read.unread() {
        return Err(why);
    }
    read.string()
        .map(str::to_owned)
        .ok_or_else(|| format!("{}: absent or not a string", read.path()))
}

/// Reads the identity values; every read is returned for evidence.
pub(crate) fn read_identity(ctx: &Context<'_>) -> (Result<Identity, String>, Vec<RegRead>) {
    let reads = vec![
        read_reg(ctx, CURRENT_VERSION, "CurrentBuild"),
        read_reg(ctx, CURRENT_VERSION, "UBR"),
        read_reg(ctx, CURRENT_VERSION, "EditionID"),
        read_reg(ctx, CURRENT_VERSION, "DisplayVersion"),
        read_reg(ctx, CURRENT_VERSION, "InstallationType"),
        read_reg(ctx, PRODUCT_OPTIONS, "ProductType"),
    ];
    let identity = (|| {
        let build_text = required(&reads[0])?;
        let build = build_text.trim().parse::<u32>().map_err(|_| {
            format!(
                "{}: {:?} is not a build number",
                reads[0].path(),
                clip(&build_text)
            )
        })?;
        Ok(Identity {
            build,
            ubr: reads[1].dword(),
            edition_id: required(&reads[2])?,
            display_version: reads[3].string().map(str::to_owned),
            installation_type: reads[4].string().map(str::to_owned),
            product_type: required(&reads[5])?,
        })
    })();
    (identity, reads)
}

/// The activation IDs of the active licences (`win.wmi.licensing_esu`).
fn active_licences(ctx: &Context<'_>) -> (Result<Vec<String>, String>, Option<Evidence>) {
    match ctx.host.api(&WIN_LICENSING_ESU) {
        Err(e) => (Err(e.to_string()), None),
        Ok(out) => {
            let ids: Result<Vec<String>, String> = instances(&out.value, &out.name).map(|a| {
                a.iter()
                    .filter_map(|i| i.get("ID").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            });
            let excerpt = ids
                .as_ref()
                .map_or(String::new(), |i| format!("{} active licence(s)", i.len()));
            let ev = api_evidence(&out, excerpt);
            (ids, Some(ev))
        }
    }
}

const ID: &str = "patch.os_supported";

/// `patch.os_supported` on Windows.
///
/// Reads `CurrentBuild`, `UBR`, `EditionID`, `DisplayVersion`, `InstallationType`
/// (`HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`) and `ProductType`
/// (`HKLM\SYSTEM\CurrentControlSet\Control\ProductOptions`), and looks the
/// product (client/server, build, edition class) up in
/// `agent/data/windows-support.toml`. Windows 11 is a client of build 22000 or
/// later; `ProductName` is never read.
/// - pass: on or before the product's last day (`facts.support_basis` `ltsc` for
///   the LTSC classes, else `standard`); Windows 10 22H2 after 2025-10-14 with an
///   active ESU licence the table lists (`esu`);
/// - fail: after the last day; Windows 10 22H2 without a verified ESU licence:
///   "standard support ended 2025-10-14; ESU not verified"; a client build older
///   than every listed Windows 10 release;
/// - unknown: a value unread (offline for now), an edition or build the table
///   does not know.
///
/// The ESU activation IDs are a data table that ships empty (they are not known
/// yet); a listed licence counts through its own end date.
pub struct OsSupported;

impl Check for OsSupported {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let shipped = match table() {
            Ok(t) => t,
            Err(e) => return unknown(ID, e.to_string()),
        };
        let extended;
        let table = if ctx.thresholds.windows_esu_licence.is_empty() {
            shipped
        } else {
            match with_configured_licences(shipped, &ctx.thresholds.windows_esu_licence) {
                Ok(t) => {
                    extended = t;
                    &extended
                }
                Err(e) => return unknown(ID, e.to_string()),
            }
        };
        let (identity, reads) = read_identity(ctx);
        let evidence: Vec<Evidence> = reads.iter().filter_map(RegRead::evidence).collect();
        let id = match identity {
            Ok(i) => i,
            Err(e) => return unknown(ID, e).evidences(evidence),
        };
        let date = ctx.now.date_naive();
        let needs_esu = id.kind() == Ok(Kind::Client)
            && id.build == table.esu_build
            && table
                .rows
                .iter()
                .any(|r| r.build == id.build && date > r.last_day);
        let (licences, esu_evidence) = if needs_esu {
            active_licences(ctx)
        } else {
            (Ok(Vec::new()), None)
        };
        let verdict = decide(table, &id, date, &licences);
        report(&id, date, &verdict)
            .fact("edition_class", edition_class(table, &id).ok())
            .evidences(evidence)
            .evidences(esu_evidence)
    }
}

/// The result for a verdict, with the identity's facts.
pub fn report(id: &Identity, date: NaiveDate, verdict: &Support<'_>) -> CheckResult {
    let family = id.family().unwrap_or("Windows");
    let shown = match &id.display_version {
        Some(v) => format!(
            "{family} {v} (build {}, {})",
            id.full_build(),
            id.edition_id
        ),
        None => format!("{family} (build {}, {})", id.full_build(), id.edition_id),
    };
    let approx = |row: &Row| {
        if row.approximate {
            "; the end date is approximate (not confirmed by Microsoft)"
        } else {
            ""
        }
    };
    let (result, row, end, basis) = match verdict {
        Support::Until { row } => (
            CheckResult::new(
                ID,
                Status::Pass,
                format!(
                    "{shown}: {} is supported until {}, {} days after collection{}",
                    row.product,
                    row.last_day,
                    (row.last_day - date).num_days(),
                    approx(row)
                ),
            ),
            Some(*row),
            Some(row.last_day),
            Some(
                if matches!(row.edition, EditionClass::Ltsc | EditionClass::IotLtsc) {
                    "ltsc"
                } else {
                    "standard"
                },
            ),
        ),
        Support::Esu { row, licence } => (
            CheckResult::new(
                ID,
                Status::Pass,
                format!(
                    "{shown}: standard support ended {}; Extended Security Updates ({}) until {}",
                    row.last_day, licence.name, licence.through
                ),
            ),
            Some(*row),
            Some(licence.through),
            Some("esu"),
        ),
        Support::Ended { row, esu } => (
            CheckResult::new(
                ID,
                Status::Fail,
                if *esu {
                    format!(
                        "{shown}: standard support ended {}; ESU not verified",
                        row.last_day
                    )
                } else {
                    format!(
                        "{shown}: {} has been out of support since {}, {} days before collection{}",
                        row.product,
                        row.last_day,
                        (date - row.last_day).num_days(),
                        approx(row)
                    )
                },
            ),
            Some(*row),
            Some(row.last_day),
            None,
        ),
        Support::EndedUnlisted => (
            CheckResult::new(
                ID,
                Status::Fail,
                format!(
                    "{shown}: a Windows 10 release older than every supported one: out of support"
                ),
            ),
            None,
            None,
            None,
        ),
        Support::Unknown(why) => (unknown(ID, format!("{shown}: {why}")), None, None, None),
    };
    result
        .fact("build", id.full_build())
        .fact("edition_id", &id.edition_id)
        .fact("display_version", &id.display_version)
        .fact("installation_type", &id.installation_type)
        .fact("product_type", &id.product_type)
        .fact("family", id.family())
        .fact("product", row.map(|r| &r.product))
        .fact("collection_date", date.to_string())
        .fact("support_ends", end.map(|d| d.to_string()))
        .fact("days_left", end.map(|e| (e - date).num_days()))
        .fact("support_basis", basis)
        .fact("approximate", row.map(|r| r.approximate))
        .fact("table_source", row.map(|r| &r.source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::host::fake::FakeHost;
    use chrono::{Datelike, Weekday};

    fn shipped() -> &'static Table {
        table().as_ref().expect("the shipped table parses")
    }

    fn id(build: u32, edition: &str, product_type: &str) -> Identity {
        Identity {
            build,
            ubr: Some(4460),
            edition_id: edition.into(),
            display_version: Some("24H2".into()),
            installation_type: Some("Client".into()),
            product_type: product_type.into(),
        }
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn none() -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }

    #[test]
    fn every_end_date_is_a_patch_tuesday() {
        let t = shipped();
        assert!(t.rows.len() >= 30);
        let mut dates: Vec<(String, NaiveDate)> = t
            .rows
            .iter()
            .map(|r| (format!("{} {:?}", r.product, r.edition), r.last_day))
            .collect();
        dates.extend(t.esu_licences.iter().map(|l| (l.name.clone(), l.through)));
        for (what, d) in dates {
            assert_eq!(d.weekday(), Weekday::Tue, "{what}: {d}");
            assert!(
                (8..=14).contains(&d.day()),
                "{what}: {d} is not the second Tuesday"
            );
        }
    }

    #[test]
    fn build_26100_is_three_products() {
        let t = shipped();
        let at = day("2026-11-25");
        let product = |i: &Identity| match decide(t, i, at, &none()) {
            Support::Until { row } | Support::Ended { row, .. } => {
                (row.product.clone(), row.last_day.to_string())
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            product(&id(26100, "Professional", "WinNT")),
            ("Windows 11 24H2".into(), "2026-10-13".into())
        );
        assert_eq!(
            product(&id(26100, "Enterprise", "WinNT")),
            ("Windows 11 24H2".into(), "2027-10-12".into())
        );
        assert_eq!(
            product(&id(26100, "EnterpriseS", "WinNT")),
            (
                "Windows 11 Enterprise LTSC 2024".into(),
                "2029-10-09".into()
            )
        );
        assert_eq!(
            product(&id(26100, "IoTEnterpriseS", "WinNT")),
            (
                "Windows 11 IoT Enterprise LTSC 2024".into(),
                "2034-10-10".into()
            )
        );
        // A server whatever its EditionID; a domain controller is a server.
        assert_eq!(
            product(&id(26100, "ServerDatacenter", "LanmanNT")),
            ("Windows Server 2025".into(), "2034-10-10".into())
        );
        assert!(matches!(
            decide(t, &id(26100, "Professional", "WinNT"), at, &none()),
            Support::Ended { esu: false, .. }
        ));
    }

    #[test]
    fn build_22000_and_later_is_windows_11_whatever_the_product_name() {
        // The registry's ProductName says "Windows 10 Enterprise" on 26100; it is
        // not an input, the build is.
        let i = id(26100, "Enterprise", "WinNT");
        assert_eq!(i.family(), Some("Windows 11"));
        assert_eq!(id(22000, "Core", "WinNT").family(), Some("Windows 11"));
        assert_eq!(id(19045, "Core", "WinNT").family(), Some("Windows 10"));
        assert_eq!(
            id(26100, "ServerStandard", "ServerNT").family(),
            Some("Windows Server")
        );
        let r = report(
            &i,
            day("2026-11-25"),
            &decide(shipped(), &i, day("2026-11-25"), &none()),
        );
        assert_eq!(r.status, Status::Pass);
        assert!(
            r.summary
                .starts_with("Windows 11 24H2 (build 26100.4460, Enterprise)"),
            "{}",
            r.summary
        );
        assert_eq!(r.facts["support_basis"], "standard");
        assert_eq!(r.facts["days_left"], 321);
    }

    #[test]
    fn windows_10_22h2_needs_a_verified_esu_licence() {
        let mut t = shipped().clone();
        let w10 = id(19045, "Professional", "WinNT");
        let at = day("2026-01-13");
        let v = decide(&t, &w10, at, &Ok(vec!["abc".into()]));
        assert!(matches!(v, Support::Ended { esu: true, .. }));
        let r = report(&w10, at, &v);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.summary
                .ends_with("standard support ended 2025-10-14; ESU not verified"),
            "{}",
            r.summary
        );
        // Not read at all: the same.
        assert!(matches!(
            decide(&t, &w10, at, &Err("not captured".into())),
            Support::Ended { esu: true, .. }
        ));
        t.esu_licences.push(EsuLicence {
            activation_id: "F520E45E-7413-4A34-A497-D2765967D094".into(),
            name: "ESU year 1 (test)".into(),
            through: day("2026-10-13"),
        });
        let ids = Ok(vec!["f520e45e-7413-4a34-a497-d2765967d094".to_owned()]);
        let v = decide(&t, &w10, at, &ids);
        assert!(matches!(v, Support::Esu { .. }), "{v:?}");
        assert_eq!(report(&w10, at, &v).facts["support_basis"], "esu");
        // After the licence's year: ended again.
        assert!(matches!(
            decide(&t, &w10, day("2026-10-14"), &ids),
            Support::Ended { esu: true, .. }
        ));
        // Before the end, no licence needed.
        assert!(matches!(
            decide(&t, &w10, day("2025-10-14"), &none()),
            Support::Until { .. }
        ));
    }

    #[test]
    fn unknown_editions_builds_and_product_types_are_unknown_old_builds_fail() {
        let t = shipped();
        let at = day("2026-11-25");
        assert!(matches!(
            decide(t, &id(26100, "Starter", "WinNT"), at, &none()),
            Support::Unknown(_)
        ));
        assert!(matches!(
            decide(t, &id(26100, "Enterprise", "Foo"), at, &none()),
            Support::Unknown(_)
        ));
        assert!(matches!(
            decide(t, &id(22000, "EnterpriseS", "WinNT"), at, &none()),
            Support::Unknown(_)
        ));
        assert!(matches!(
            decide(t, &id(29999, "Enterprise", "WinNT"), at, &none()),
            Support::Unknown(_)
        ));
        assert_eq!(
            decide(t, &id(18363, "Enterprise", "WinNT"), at, &none()),
            Support::EndedUnlisted
        );
        assert_eq!(
            decide(t, &id(10240, "EnterpriseS", "WinNT"), at, &none()),
            Support::EndedUnlisted
        );
        // A listed build's missing class is not "unlisted".
        assert!(matches!(
            decide(t, &id(17763, "Starter", "WinNT"), at, &none()),
            Support::Unknown(_)
        ));
        // LTSB 2016: its last day still counts, the next is out.
        let ltsb = id(14393, "EnterpriseS", "WinNT");
        assert!(matches!(
            decide(t, &ltsb, day("2026-10-13"), &none()),
            Support::Until { .. }
        ));
        assert!(matches!(
            decide(t, &ltsb, at, &none()),
            Support::Ended { esu: false, .. }
        ));
        assert_eq!(
            edition_class(t, &id(1, "enterprises", "WinNT")),
            Ok(EditionClass::Ltsc)
        );
    }

    #[test]
    fn broken_tables_are_refused() {
        let base = TABLE_TOML;
        assert!(matches!(parse_table("x = "), Err(TableError::Toml(_))));
        let dup = format!(
            "{base}\n[[row]]\nkind = \"server\"\nbuild = 20348\nedition = \"server\"\n\
             product = \"again\"\nlast_day = 2031-10-14\napproximate = false\nsource = \"\"\n"
        );
        assert!(matches!(parse_table(&dup), Err(TableError::Duplicate(_))));
        let mixed = format!(
            "{base}\n[[row]]\nkind = \"client\"\nbuild = 1\nedition = \"server\"\n\
             product = \"x\"\nlast_day = 2031-10-14\napproximate = false\nsource = \"\"\n"
        );
        assert!(matches!(
            parse_table(&mixed),
            Err(TableError::ServerEdition(_))
        ));
        let timed = format!(
            "{base}\n[[row]]\nkind = \"client\"\nbuild = 1\nedition = \"consumer\"\n\
             product = \"x\"\nlast_day = 2031-10-14T00:00:00Z\napproximate = false\nsource = \"\"\n"
        );
        assert!(matches!(parse_table(&timed), Err(TableError::Date(_))));
    }

    /// The shipped table lists no ESU activation ID; one configured in the
    /// agent's `[thresholds]` makes a Windows 10 22H2 host with that licence
    /// active supported through the licence's last day, and no further.
    #[test]
    fn a_configured_esu_licence_extends_windows_10_22h2() {
        use crate::host::RegistryValue as V;
        let cv = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion";
        let host = FakeHost::windows()
            .reg_value(cv, "CurrentBuild", V::String("19045".into()))
            .reg_value(cv, "UBR", V::Dword(6456))
            .reg_value(cv, "EditionID", V::String("Professional".into()))
            .reg_value(cv, "DisplayVersion", V::String("22H2".into()))
            .reg_value(cv, "InstallationType", V::String("Client".into()))
            .reg_value(
                "SYSTEM\\CurrentControlSet\\Control\\ProductOptions",
                "ProductType",
                V::String("WinNT".into()),
            )
            .api(
                &WIN_LICENSING_ESU,
                serde_json::json!({"instances": [{"Name": "Client-ESU-Year2", "Description": "",
                    "LicenseStatus": 1, "ID": "4B1571D3-BAFB-4B40-8087-A961BE2CAF65"}]}),
            );
        let now = "2026-11-25T12:00:00Z".parse().unwrap();
        let r = host.run_at(&OsSupported, now, &Thresholds::default());
        assert_eq!(r.status, Status::Fail, "{}", r.summary);
        assert!(r.summary.contains("ESU not verified"), "{}", r.summary);

        let config = crate::config::parse(
            "version = 1\n[thresholds]\n[[thresholds.windows_esu_licence]]\n\
             activation_id = \"4b1571d3-bafb-4b40-8087-a961be2caf65\"\n\
             name = \"Windows 10 ESU commercial year 2\"\nthrough = 2027-10-12\n",
            std::path::Path::new("agent.toml"),
            &|_| None,
        )
        .unwrap();
        let t = &config.thresholds;
        assert_eq!(t.windows_esu_licence.len(), 1);
        let r = host.run_at(&OsSupported, now, t);
        assert_eq!(r.status, Status::Pass, "{}", r.summary);
        assert!(r.summary.contains("2027-10-12"), "{}", r.summary);
        let after = "2027-10-13T12:00:00Z".parse().unwrap();
        assert_eq!(host.run_at(&OsSupported, after, t).status, Status::Fail);

        // A `through` that is not a plain date names the licence.
        let bad = crate::config::parse(
            "version = 1\n[[thresholds.windows_esu_licence]]\nactivation_id = \"x\"\n\
             name = \"odd\"\nthrough = 2027-10-12T00:00:00Z\n",
            std::path::Path::new("agent.toml"),
            &|_| None,
        )
        .unwrap();
        let r = host.run_at(&OsSupported, now, &bad.thresholds);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.summary.contains("odd"), "{}", r.summary);
    }

    #[test]
    fn the_check_is_unknown_while_the_registry_is_unread() {
        let r = FakeHost::windows().run(&OsSupported);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.summary.contains("CurrentBuild"), "{}", r.summary);
    }
}
