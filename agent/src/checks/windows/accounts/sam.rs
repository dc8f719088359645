//! Pure parsers of the SAM hive's binary values (offline, and whenever the
//! `NetUserModalsGet`/`NetUserEnum`/`NetLocalGroupGetMembers` answers are not
//! there), and of the same facts as the live api captures give them.
//!
//! Layouts (little-endian; libyal winreg-kb "Security Accounts Manager keys",
//! `j0urney1/RemoteSamDecrypt:RemoteSamDecrypt/reg.h` `DOMAIN_ACCOUNT_F`):
//!
//! - `HKLM\SAM\SAM\Domains\Account\F` (the account domain's policy): `i64`
//!   intervals in negative 100-ns units (`0x8000000000000000` = never):
//!   MaxPasswordAge 0x18, MinPasswordAge 0x20, LockoutDuration 0x30,
//!   LockoutObservationWindow 0x38; PasswordProperties `u32` 0x4C (bit 0 =
//!   complexity); MinPasswordLength `u16` 0x50; PasswordHistoryLength `u16` 0x52;
//!   LockoutThreshold `u16` 0x54. Shorter than 0x56 bytes is an error.
//! - `…\Account\Users\<RID, 8 hex digits>\F` (one user): the RID `u32` at 0x30,
//!   the account control bits (`USER_ACCOUNT_*`) `u16` at 0x38: 0x0001 disabled,
//!   0x0004 password not required, 0x0200 password does not expire. Shorter than
//!   0x3A bytes is an error. The user's `V` value (which holds the password
//!   hashes) is never read.
//! - `…\Account\Users\Names\<name>`: the link from a name to its RID is the
//!   *type* of the key's default value (its data is empty).
//! - `…\Builtin\Aliases\<RID>\C` (a local group: 00000220 Administrators,
//!   0000022B Remote Desktop Users): a 52-byte header, then data. Header: RID
//!   `u32` 0; name offset `u32` 16 and size 20; description offset 28 and size
//!   32; member SID array offset `u32` 40, its size in bytes 44, the number of
//!   members 48; offsets count from byte 52. The array is that many SIDs back to
//!   back, each in its binary form (revision 1, sub-authority count N ≤ 15,
//!   6-byte big-endian identifier authority, N `u32` sub-authorities), 8 + 4N
//!   bytes. Every offset, size and count is checked against the bytes there are.

use serde::Serialize;
use serde_json::Value;

/// Why a SAM value or an api answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamError {
    #[error("{what}: {len} bytes, shorter than the {need} bytes of its layout")]
    TooShort {
        what: &'static str,
        len: usize,
        need: usize,
    },
    #[error("{what}: {value:#x} is not an interval (a positive 100-ns count)")]
    Interval { what: &'static str, value: i64 },
    #[error("alias C value: {0}")]
    Alias(String),
    #[error("{0}")]
    Json(String),
}

/// "Never" in a SAM interval.
pub const SAM_NEVER: i64 = i64::MIN;
/// `TIMEQ_FOREVER`: "never" in `NetUserModalsGet`'s seconds.
pub const TIMEQ_FOREVER: u64 = 0xFFFF_FFFF;

/// A duration of the account policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Never,
    Seconds(u64),
}

impl Interval {
    /// A SAM interval: negative 100-ns units, [`SAM_NEVER`] = never, 0 = 0 s; a
    /// positive value is not one Windows writes (an error).
    pub fn from_sam(what: &'static str, value: i64) -> Result<Interval, SamError> {
        match value {
            SAM_NEVER => Ok(Interval::Never),
            v if v <= 0 => Ok(Interval::Seconds(v.unsigned_abs() / 10_000_000)),
            v => Err(SamError::Interval { what, value: v }),
        }
    }

    /// `NetUserModalsGet`'s seconds: [`TIMEQ_FOREVER`] = never.
    pub fn from_api(seconds: u64) -> Interval {
        if seconds == TIMEQ_FOREVER {
            Interval::Never
        } else {
            Interval::Seconds(seconds)
        }
    }

    /// For a person: `never`, `42 days`, `30 minutes`, `12 s`.
    pub fn show(&self) -> String {
        match self {
            Interval::Never => "never".to_owned(),
            Interval::Seconds(s) if *s >= 86_400 && s % 86_400 == 0 => {
                format!("{} days", s / 86_400)
            }
            Interval::Seconds(s) if *s >= 60 && s % 60 == 0 => format!("{} minutes", s / 60),
            Interval::Seconds(s) => format!("{s} s"),
        }
    }

    /// As a fact: `"never"` or the seconds.
    pub fn fact(&self) -> Value {
        match self {
            Interval::Never => Value::from("never"),
            Interval::Seconds(s) => Value::from(*s),
        }
    }
}

/// The account domain's password and lockout policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub max_password_age: Interval,
    pub min_password_age: Interval,
    /// `None` when the source does not give it (the api's level 0 has no
    /// complexity bit).
    pub complexity: Option<bool>,
    pub min_password_length: u32,
    pub password_history_length: u32,
    pub lockout_threshold: u32,
    pub lockout_duration: Interval,
    pub lockout_observation_window: Interval,
}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le_i64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Bytes a domain `F` value must have: up to `LockoutThreshold`.
pub const DOMAIN_F_LEN: usize = 0x56;

/// Parses `SAM\Domains\Account\F`.
pub fn parse_domain_f(f: &[u8]) -> Result<Policy, SamError> {
    const WHAT: &str = "SAM Domains\\Account\\F";
    let short = || SamError::TooShort {
        what: WHAT,
        len: f.len(),
        need: DOMAIN_F_LEN,
    };
    if f.len() < DOMAIN_F_LEN {
        return Err(short());
    }
    let interval = |what: &'static str, at: usize| -> Result<Interval, SamError> {
        Interval::from_sam(what, le_i64(f, at).ok_or_else(short)?)
    };
    let u16_field = |at: usize| le_u16(f, at).map(u32::from).ok_or_else(short);
    Ok(Policy {
        max_password_age: interval("MaxPasswordAge", 0x18)?,
        min_password_age: interval("MinPasswordAge", 0x20)?,
        lockout_duration: interval("LockoutDuration", 0x30)?,
        lockout_observation_window: interval("LockoutObservationWindow", 0x38)?,
        complexity: Some(le_u32(f, 0x4C).ok_or_else(short)? & 1 != 0),
        min_password_length: u16_field(0x50)?,
        password_history_length: u16_field(0x52)?,
        lockout_threshold: u16_field(0x54)?,
    })
}

/// The `NetUserModalsGet` capture (`win.api.netusermodals`): `{"level0":
/// {"min_passwd_len", "max_passwd_age", "min_passwd_age", "password_hist_len"},
/// "level3": {"lockout_duration", "lockout_observation_window",
/// "lockout_threshold"}}`.
pub fn parse_modals(v: &Value) -> Result<Policy, SamError> {
    let get = |level: &str, key: &str| -> Result<u64, SamError> {
        v.get(level)
            .and_then(|l| l.get(key))
            .and_then(Value::as_u64)
            .ok_or_else(|| SamError::Json(format!("{level}.{key} not captured as an integer")))
    };
    let small = |level: &str, key: &str| -> Result<u32, SamError> {
        u32::try_from(get(level, key)?)
            .map_err(|_| SamError::Json(format!("{level}.{key} is out of range")))
    };
    Ok(Policy {
        max_password_age: Interval::from_api(get("level0", "max_passwd_age")?),
        min_password_age: Interval::from_api(get("level0", "min_passwd_age")?),
        complexity: None,
        min_password_length: small("level0", "min_passwd_len")?,
        password_history_length: small("level0", "password_hist_len")?,
        lockout_threshold: small("level3", "lockout_threshold")?,
        lockout_duration: Interval::from_api(get("level3", "lockout_duration")?),
        lockout_observation_window: Interval::from_api(get(
            "level3",
            "lockout_observation_window",
        )?),
    })
}

/// `USER_ACCOUNT_DISABLED` in a user's `F`.
pub const ACB_DISABLED: u16 = 0x0001;
/// `USER_PASSWORD_NOT_REQUIRED`.
pub const ACB_PWNOTREQ: u16 = 0x0004;
/// `USER_DONT_EXPIRE_PASSWORD`.
pub const ACB_PWNOEXP: u16 = 0x0200;
/// Bytes a user `F` value must have: up to the account control bits.
pub const USER_F_LEN: usize = 0x3A;

/// `NetUserEnum`'s `UF_ACCOUNTDISABLE`.
pub const UF_ACCOUNTDISABLE: u64 = 0x0002;
/// `UF_PASSWD_NOTREQD`.
pub const UF_PASSWD_NOTREQD: u64 = 0x0020;
/// `UF_DONT_EXPIRE_PASSWD`.
pub const UF_DONT_EXPIRE_PASSWD: u64 = 0x1_0000;

/// What a user's flags say, from either source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Flags {
    pub disabled: bool,
    pub password_not_required: bool,
    pub password_never_expires: bool,
}

impl Flags {
    /// From the SAM's account control bits.
    pub fn from_acb(acb: u16) -> Flags {
        Flags {
            disabled: acb & ACB_DISABLED != 0,
            password_not_required: acb & ACB_PWNOTREQ != 0,
            password_never_expires: acb & ACB_PWNOEXP != 0,
        }
    }

    /// From `NetUserEnum`'s `usri3_flags`.
    pub fn from_uf(flags: u64) -> Flags {
        Flags {
            disabled: flags & UF_ACCOUNTDISABLE != 0,
            password_not_required: flags & UF_PASSWD_NOTREQD != 0,
            password_never_expires: flags & UF_DONT_EXPIRE_PASSWD != 0,
        }
    }
}

/// A user's `F`: its RID and flags.
pub fn parse_user_f(f: &[u8]) -> Result<(u32, Flags), SamError> {
    let short = || SamError::TooShort {
        what: "SAM user F",
        len: f.len(),
        need: USER_F_LEN,
    };
    if f.len() < USER_F_LEN {
        return Err(short());
    }
    let rid = le_u32(f, 0x30).ok_or_else(short)?;
    let acb = le_u16(f, 0x38).ok_or_else(short)?;
    Ok((rid, Flags::from_acb(acb)))
}

/// A local user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// `None` when no name links to the RID (offline).
    pub name: Option<String>,
    pub rid: u32,
    pub flags: Flags,
}

impl User {
    /// `name (RID 1001)`, or `RID 1001`.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{} (RID {})", super::super::clip(n), self.rid),
            None => format!("RID {}", self.rid),
        }
    }
}

/// The `NetUserEnum` capture (`win.api.netuserenum`): `{"users": [{"name",
/// "rid", "flags"}]}`.
pub fn parse_user_enum(v: &Value) -> Result<Vec<User>, SamError> {
    let users = v
        .get("users")
        .and_then(Value::as_array)
        .ok_or_else(|| SamError::Json("no users array".to_owned()))?;
    users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let rid = u
                .get("rid")
                .and_then(Value::as_u64)
                .and_then(|r| u32::try_from(r).ok())
                .ok_or_else(|| SamError::Json(format!("users[{i}].rid is not a RID")))?;
            let flags = u
                .get("flags")
                .and_then(Value::as_u64)
                .ok_or_else(|| SamError::Json(format!("users[{i}].flags is not an integer")))?;
            Ok(User {
                name: u.get("name").and_then(Value::as_str).map(str::to_owned),
                rid,
                flags: Flags::from_uf(flags),
            })
        })
        .collect()
}

/// The built-in accounts never judged, by RID: Guest, `DefaultAccount`,
/// `WDAGUtilityAccount`.
pub const UNJUDGED_RIDS: [u32; 3] = [501, 503, 504];

/// The accounts the policy checks judge: enabled, and not one of
/// [`UNJUDGED_RIDS`] (the RID 500 Administrator is judged when enabled).
pub fn judged(users: &[User]) -> Vec<&User> {
    users
        .iter()
        .filter(|u| !u.flags.disabled && !UNJUDGED_RIDS.contains(&u.rid))
        .collect()
}

/// The largest sub-authority count a SID has.
pub const MAX_SUB_AUTHORITIES: usize = 15;

/// A binary SID at the start of `b` as `S-1-5-21-…`, and its length.
pub fn parse_sid(b: &[u8]) -> Result<(String, usize), String> {
    let revision = *b.first().ok_or("empty SID")?;
    let count = usize::from(*b.get(1).ok_or("SID without a sub-authority count")?);
    if revision != 1 {
        return Err(format!("SID revision {revision}, not 1"));
    }
    if count > MAX_SUB_AUTHORITIES {
        return Err(format!("SID with {count} sub-authorities (at most 15)"));
    }
    let len = 8 + 4 * count;
    let body = b
        .get(..len)
        .ok_or_else(|| format!("SID of {len} bytes, {} there", b.len()))?;
    let authority = body
        .get(2..8)
        .ok_or("short SID")?
        .iter()
        .fold(0u64, |a, &x| (a << 8) | u64::from(x));
    let mut out = format!("S-1-{authority}");
    for i in 0..count {
        let sub = le_u32(body, 8 + 4 * i).ok_or("short SID")?;
        out.push_str(&format!("-{sub}"));
    }
    Ok((out, len))
}

/// The header of an alias `C` value.
pub const ALIAS_HEADER: usize = 52;

/// The member SIDs of an alias's `C` value, in order.
pub fn parse_alias_members(c: &[u8]) -> Result<Vec<String>, SamError> {
    let bad = |s: String| SamError::Alias(s);
    if c.len() < ALIAS_HEADER {
        return Err(SamError::TooShort {
            what: "alias C value",
            len: c.len(),
            need: ALIAS_HEADER,
        });
    }
    let field = |at: usize| le_u32(c, at).map(|v| v as usize);
    let (offset, size, count) = match (field(40), field(44), field(48)) {
        (Some(o), Some(s), Some(n)) => (o, s, n),
        _ => return Err(bad("truncated header".to_owned())),
    };
    let start = ALIAS_HEADER
        .checked_add(offset)
        .ok_or_else(|| bad("member offset overflows".to_owned()))?;
    let end = start
        .checked_add(size)
        .ok_or_else(|| bad("member size overflows".to_owned()))?;
    let array = c.get(start..end).ok_or_else(|| {
        bad(format!(
            "member array at {start}..{end} beyond its {} bytes",
            c.len()
        ))
    })?;
    // Each SID takes at least 8 bytes: a count above that is not real.
    if count > array.len() / 8 {
        return Err(bad(format!(
            "{count} members cannot fit in {} bytes",
            array.len()
        )));
    }
    let mut out = Vec::with_capacity(count);
    let mut at = 0usize;
    for i in 0..count {
        let rest = array.get(at..).unwrap_or_default();
        let (sid, len) = parse_sid(rest).map_err(|e| bad(format!("member {i}: {e}")))?;
        out.push(sid);
        at += len;
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod testdata {
    //! Builders of SAM values for the tests, byte by byte as the layouts say.

    /// A domain `F` value.
    #[allow(clippy::too_many_arguments)]
    pub fn domain_f(
        max_age: i64,
        min_len: u16,
        threshold: u16,
        history: u16,
        complexity: bool,
    ) -> Vec<u8> {
        let mut f = vec![0u8; 0x68];
        f[0] = 3;
        f[0x18..0x20].copy_from_slice(&max_age.to_le_bytes());
        f[0x20..0x28].copy_from_slice(&(-864_000_000_000i64).to_le_bytes());
        f[0x30..0x38].copy_from_slice(&(-18_000_000_000i64).to_le_bytes());
        f[0x38..0x40].copy_from_slice(&(-18_000_000_000i64).to_le_bytes());
        f[0x4C..0x50].copy_from_slice(&u32::from(complexity).to_le_bytes());
        f[0x50..0x52].copy_from_slice(&min_len.to_le_bytes());
        f[0x52..0x54].copy_from_slice(&history.to_le_bytes());
        f[0x54..0x56].copy_from_slice(&threshold.to_le_bytes());
        f
    }

    /// `days` as a SAM interval.
    pub fn days(days: i64) -> i64 {
        -days * 86_400 * 10_000_000
    }

    /// A user `F` value.
    pub fn user_f(rid: u32, acb: u16) -> Vec<u8> {
        let mut f = vec![0u8; 0x50];
        f[0] = 2;
        f[0x30..0x34].copy_from_slice(&rid.to_le_bytes());
        f[0x34..0x38].copy_from_slice(&513u32.to_le_bytes());
        f[0x38..0x3A].copy_from_slice(&acb.to_le_bytes());
        f
    }

    /// A binary SID from its parts.
    pub fn sid(authority: u8, subs: &[u32]) -> Vec<u8> {
        let mut b = vec![1, subs.len() as u8, 0, 0, 0, 0, 0, authority];
        for s in subs {
            b.extend(s.to_le_bytes());
        }
        b
    }

    /// An alias `C` value: header, a 20-byte stand-in security descriptor, the
    /// name (4-byte aligned), then the member SIDs.
    pub fn alias_c(rid: u32, name: &str, members: &[Vec<u8>]) -> Vec<u8> {
        let descriptor = vec![
            0x01, 0x00, 0x04, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let mut name_bytes: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let name_len = name_bytes.len();
        while !name_bytes.len().is_multiple_of(4) {
            name_bytes.push(0);
        }
        let array: Vec<u8> = members.concat();
        let mut c = vec![0u8; super::ALIAS_HEADER];
        let put = |c: &mut Vec<u8>, at: usize, v: u32| {
            c[at..at + 4].copy_from_slice(&v.to_le_bytes());
        };
        put(&mut c, 0, rid);
        put(&mut c, 8, descriptor.len() as u32);
        c[12] = 2;
        c[14] = 1;
        put(&mut c, 16, descriptor.len() as u32);
        put(&mut c, 20, name_len as u32);
        put(&mut c, 28, (descriptor.len() + name_bytes.len()) as u32);
        put(&mut c, 32, 0);
        put(&mut c, 40, (descriptor.len() + name_bytes.len()) as u32);
        put(&mut c, 44, array.len() as u32);
        put(&mut c, 48, members.len() as u32);
        c.extend(descriptor);
        c.extend(name_bytes);
        c.extend(array);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::*;
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn the_domain_f_value_gives_the_policy_at_its_offsets() {
        let p = parse_domain_f(&domain_f(days(42), 14, 5, 24, true)).unwrap();
        assert_eq!(p.max_password_age, Interval::Seconds(42 * 86_400));
        assert_eq!(p.min_password_age, Interval::Seconds(86_400));
        assert_eq!(p.lockout_duration, Interval::Seconds(1_800));
        assert_eq!(p.lockout_observation_window, Interval::Seconds(1_800));
        assert_eq!(p.complexity, Some(true));
        assert_eq!(p.min_password_length, 14);
        assert_eq!(p.password_history_length, 24);
        assert_eq!(p.lockout_threshold, 5);
        assert_eq!(p.max_password_age.show(), "42 days");
        assert_eq!(p.lockout_duration.show(), "30 minutes");
    }

    #[test]
    fn never_zero_and_positive_intervals() {
        let never = parse_domain_f(&domain_f(SAM_NEVER, 0, 0, 0, false)).unwrap();
        assert_eq!(never.max_password_age, Interval::Never);
        assert_eq!(never.max_password_age.fact(), json!("never"));
        assert_eq!(never.complexity, Some(false));
        let zero = parse_domain_f(&domain_f(0, 0, 0, 0, false)).unwrap();
        assert_eq!(zero.max_password_age, Interval::Seconds(0));
        // One 100-ns tick short of a second is 0 s; the largest negative is not never.
        assert_eq!(
            Interval::from_sam("x", -9_999_999),
            Ok(Interval::Seconds(0))
        );
        assert_eq!(
            Interval::from_sam("x", i64::MIN + 1),
            Ok(Interval::Seconds(922_337_203_685))
        );
        assert_eq!(
            parse_domain_f(&domain_f(1, 0, 0, 0, false)),
            Err(SamError::Interval {
                what: "MaxPasswordAge",
                value: 1
            })
        );
        assert_eq!(Interval::from_api(TIMEQ_FOREVER), Interval::Never);
        assert_eq!(Interval::from_api(0), Interval::Seconds(0));
    }

    #[test]
    fn a_short_domain_f_value_is_a_clear_error() {
        let f = domain_f(days(42), 14, 5, 24, true);
        let err = parse_domain_f(&f[..0x55]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SAM Domains\\Account\\F: 85 bytes, shorter than the 86 bytes of its layout"
        );
        assert!(parse_domain_f(&[]).is_err());
        // Exactly up to LockoutThreshold is enough.
        assert_eq!(
            parse_domain_f(&f[..DOMAIN_F_LEN])
                .unwrap()
                .lockout_threshold,
            5
        );
        // The largest u16 values are read as they are.
        let mut big = f.clone();
        big[0x50..0x52].copy_from_slice(&u16::MAX.to_le_bytes());
        big[0x54..0x56].copy_from_slice(&u16::MAX.to_le_bytes());
        let p = parse_domain_f(&big).unwrap();
        assert_eq!(
            (p.min_password_length, p.lockout_threshold),
            (65_535, 65_535)
        );
    }

    #[test]
    fn user_f_values_give_rid_and_account_control_bits() {
        let (rid, flags) = parse_user_f(&user_f(1001, 0x0010)).unwrap();
        assert_eq!(rid, 1001);
        assert_eq!(
            flags,
            Flags {
                disabled: false,
                password_not_required: false,
                password_never_expires: false
            }
        );
        let (_, flags) = parse_user_f(&user_f(501, 0x0215)).unwrap();
        assert!(flags.disabled && flags.password_not_required && flags.password_never_expires);
        // The NetUserEnum bits are other numbers for the same things.
        assert_eq!(Flags::from_uf(0x1_0022), Flags::from_acb(0x0205));
        assert_eq!(Flags::from_uf(0x0020), Flags::from_acb(0x0004));
        let err = parse_user_f(&user_f(1001, 0)[..0x39]).unwrap_err();
        assert!(err.to_string().contains("57 bytes"), "{err}");
    }

    #[test]
    fn judged_accounts_are_enabled_and_not_guest_defaultaccount_or_wdag() {
        let user = |rid, disabled| User {
            name: Some(format!("u{rid}")),
            rid,
            flags: Flags {
                disabled,
                password_not_required: false,
                password_never_expires: false,
            },
        };
        let users = [
            user(500, false),
            user(501, false),
            user(503, false),
            user(504, false),
            user(1001, true),
            user(1002, false),
        ];
        let rids: Vec<u32> = judged(&users).iter().map(|u| u.rid).collect();
        assert_eq!(rids, [500, 1002]);
    }

    #[test]
    fn alias_members_are_the_sids_of_the_c_value() {
        let members = [
            sid(5, &[21, 1, 2, 3, 500]),
            sid(5, &[21, 9, 8, 7, 512]),
            sid(5, &[4]),
            sid(12, &[1, 2]),
        ];
        let c = alias_c(0x220, "Administrators", &members);
        assert_eq!(
            parse_alias_members(&c).unwrap(),
            [
                "S-1-5-21-1-2-3-500",
                "S-1-5-21-9-8-7-512",
                "S-1-5-4",
                "S-1-12-1-2"
            ]
        );
        assert_eq!(
            parse_alias_members(&alias_c(0x22B, "Remote Desktop Users", &[])).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn broken_alias_c_values_are_errors() {
        let members = [sid(5, &[21, 1, 2, 3, 500])];
        let good = alias_c(0x220, "Administrators", &members);
        // Cut inside the last SID.
        let err = parse_alias_members(&good[..good.len() - 1]).unwrap_err();
        assert!(err.to_string().contains("beyond"), "{err}");
        // A count that cannot fit.
        let mut many = good.clone();
        many[48..52].copy_from_slice(&1000u32.to_le_bytes());
        assert!(
            parse_alias_members(&many)
                .unwrap_err()
                .to_string()
                .contains("cannot fit")
        );
        // A count of two with one SID's bytes: the second is beyond the array.
        let mut two = good.clone();
        two[48..52].copy_from_slice(&2u32.to_le_bytes());
        assert!(parse_alias_members(&two).is_err());
        // A huge offset does not overflow.
        let mut far = good.clone();
        far[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_alias_members(&far).is_err());
        // A SID that claims too many sub-authorities.
        let mut wide = good.clone();
        let at = wide.len() - members[0].len() + 1;
        wide[at] = 16;
        assert!(
            parse_alias_members(&wide)
                .unwrap_err()
                .to_string()
                .contains("15")
        );
        assert!(parse_alias_members(&good[..51]).is_err());
    }

    #[test]
    fn api_captures_parse_into_the_same_values() {
        let p = parse_modals(&json!({
            "level0": {"min_passwd_len": 8, "max_passwd_age": 3_628_800u64, "min_passwd_age": 0,
                "password_hist_len": 0, "force_logoff": 4_294_967_295u64},
            "level3": {"lockout_duration": 1800, "lockout_observation_window": 1800,
                "lockout_threshold": 0}}))
        .unwrap();
        assert_eq!(p.max_password_age, Interval::Seconds(42 * 86_400));
        assert_eq!(p.min_password_length, 8);
        assert_eq!(p.complexity, None);
        assert!(parse_modals(&json!({"level0": {}})).is_err());
        let users = parse_user_enum(&json!({"users": [
            {"name": "Administrator", "rid": 500, "flags": 0x10203},
            {"name": "alice", "rid": 1001, "flags": 0x0221}]}))
        .unwrap();
        assert!(users[0].flags.disabled && users[0].flags.password_never_expires);
        assert!(users[1].flags.password_not_required && !users[1].flags.disabled);
        assert!(
            parse_user_enum(&json!({"users": [{"name": "x", "rid": -1, "flags": 0}]})).is_err()
        );
        assert!(parse_user_enum(&json!({})).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_value_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_domain_f(&bytes);
            let _ = parse_user_f(&bytes);
            let _ = parse_alias_members(&bytes);
            let _ = parse_sid(&bytes);
        }
    }
}
