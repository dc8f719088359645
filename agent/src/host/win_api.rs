//! The live Win32 API sources of the Windows agent (netapi32, advapi32, kernel32):
//! each answers exactly the JSON layout documented on its constant in
//! [`super::sources`], a capture format that outlives builds.
//!
//! | source | call |
//! | --- | --- |
//! | `win.api.netusermodals` | `NetUserModalsGet(NULL, 0)` and `(NULL, 3)` |
//! | `win.api.netuserenum` | `NetUserEnum(NULL, 3, FILTER_NORMAL_ACCOUNT)`; no password field is read |
//! | `win.api.localgroup_admins`, `…_remote_desktop` | `LookupAccountSidW(S-1-5-32-544 / -555)` for the localised group name, then `NetLocalGroupGetMembers(level 2)`; member SIDs through `ConvertSidToStringSidW` |
//! | `win.api.auditpolicy` | `AuditQuerySystemPolicy(Logon)`, freed with `AuditFree` |
//! | `win.api.smbios_rsmb` | `GetSystemFirmwareTable('RSMB', 0)`, base64 |
//! | `win.api.firmware_type` | `GetFirmwareType` |
//! | `win.api.join_information` | `NetGetJoinInformation(NULL)`, freed with `NetApiBufferFree` |
//!
//! What is pure (SID text ⇄ bytes, GUID text, the JSON of each layout, error
//! text) is compiled on every target and tested on Linux; the calls themselves are
//! `#[cfg(windows)]`. Every buffer a call returns is freed by a guard's `Drop`,
//! whatever path the function leaves by. A failed call is
//! [`SourceError::Failed`] with the Win32 error number (or `NET_API_STATUS`).

#![cfg_attr(not(windows), allow(dead_code))]

use base64::Engine as _;
use serde_json::{Value, json};

/// The Logon audit subcategory (`Audit Logon`), the one `system.audit_logging`
/// reads.
pub(crate) const LOGON_SUBCATEGORY: u128 = 0x0CCE9215_69AE_11D9_BED3_505054503030;

/// The local group of administrators, `BUILTIN\Administrators` in English.
pub(crate) const ADMINISTRATORS_SID: &str = "S-1-5-32-544";
/// `BUILTIN\Remote Desktop Users` in English.
pub(crate) const REMOTE_DESKTOP_USERS_SID: &str = "S-1-5-32-555";

/// `SID_NAME_USE` values (`winnt.h`) after which a member's name is not a name.
const SID_TYPE_DELETED_ACCOUNT: i32 = 6;
const SID_TYPE_INVALID: i32 = 7;
const SID_TYPE_UNKNOWN: i32 = 8;

/// `USER_MODALS_INFO_0`, the integers as the API returns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Modals0 {
    pub min_passwd_len: u32,
    pub max_passwd_age: u32,
    pub min_passwd_age: u32,
    pub password_hist_len: u32,
    pub force_logoff: u32,
}

/// `USER_MODALS_INFO_3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Modals3 {
    pub lockout_duration: u32,
    pub lockout_observation_window: u32,
    pub lockout_threshold: u32,
}

/// The layout of `win.api.netusermodals`.
pub(crate) fn modals_json(level0: Modals0, level3: Modals3) -> Value {
    json!({
        "level0": {
            "min_passwd_len": level0.min_passwd_len,
            "max_passwd_age": level0.max_passwd_age,
            "min_passwd_age": level0.min_passwd_age,
            "password_hist_len": level0.password_hist_len,
            "force_logoff": level0.force_logoff,
        },
        "level3": {
            "lockout_duration": level3.lockout_duration,
            "lockout_observation_window": level3.lockout_observation_window,
            "lockout_threshold": level3.lockout_threshold,
        },
    })
}

/// One local user of `NetUserEnum` level 3: what the layout records, and nothing
/// else of `USER_INFO_3` (no password field, no logon counters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    pub name: String,
    pub rid: u32,
    pub flags: u32,
}

/// The layout of `win.api.netuserenum`.
pub(crate) fn users_json(users: &[User]) -> Value {
    let users: Vec<Value> = users
        .iter()
        .map(|u| json!({"name": u.name, "rid": u.rid, "flags": u.flags}))
        .collect();
    json!({ "users": users })
}

/// One member of a local group, `LOCALGROUP_MEMBERS_INFO_2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub sid: String,
    /// `lgrmi2_domainandname` as returned (`DOMAIN\user`), when there is one.
    pub domain_and_name: Option<String>,
    pub sid_usage: i32,
}

/// The member's name as the layout records it: `DOMAIN\user`, or null when the
/// SID did not resolve. Windows marks an unresolved member `SidTypeUnknown`,
/// `SidTypeInvalid` or `SidTypeDeletedAccount` and gives no name or the SID's
/// text in its place (an orphaned domain SID after the domain went away): none of
/// those is a name.
pub(crate) fn member_name(member: &Member) -> Option<String> {
    let name = member.domain_and_name.as_deref()?.trim();
    let unresolved = matches!(
        member.sid_usage,
        SID_TYPE_DELETED_ACCOUNT | SID_TYPE_INVALID | SID_TYPE_UNKNOWN
    );
    let is_sid_text = name
        .rsplit('\\')
        .next()
        .is_some_and(|last| last.eq_ignore_ascii_case(&member.sid));
    if name.is_empty() || unresolved || is_sid_text {
        None
    } else {
        Some(name.to_owned())
    }
}

/// The layout of `win.api.localgroup_admins` and `…_remote_desktop`.
pub(crate) fn group_json(group_sid: &str, group_name: &str, members: &[Member]) -> Value {
    let members: Vec<Value> = members
        .iter()
        .map(|m| json!({"sid": m.sid, "name": member_name(m), "sid_usage": m.sid_usage}))
        .collect();
    json!({"group_sid": group_sid, "group_name": group_name, "members": members})
}

/// A GUID as the layout writes it: upper case, no braces,
/// `0CCE9215-69AE-11D9-BED3-505054503030`.
pub(crate) fn guid_text(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> String {
    let [a, b, c, d, e, f, g, h] = data4;
    format!(
        "{data1:08X}-{data2:04X}-{data3:04X}-{a:02X}{b:02X}-{c:02X}{d:02X}{e:02X}{f:02X}{g:02X}{h:02X}"
    )
}

/// The layout of `win.api.auditpolicy`: one entry per (subcategory GUID,
/// `AuditingInformation`) returned.
pub(crate) fn audit_json(entries: &[(String, u32)]) -> Value {
    let subcategories: Vec<Value> = entries
        .iter()
        .map(|(guid, info)| json!({"guid": guid, "auditing_information": info}))
        .collect();
    json!({ "subcategories": subcategories })
}

/// The layout of `win.api.smbios_rsmb`: the bytes as returned, base64 (standard
/// alphabet, padded).
pub(crate) fn rsmb_json(bytes: &[u8]) -> Value {
    json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) })
}

/// The layout of `win.api.firmware_type`.
pub(crate) fn firmware_json(firmware_type: i32) -> Value {
    json!({ "FirmwareType": firmware_type })
}

/// The layout of `win.api.join_information`.
pub(crate) fn join_json(name: &str, status: i32) -> Value {
    json!({ "name": name, "status": status })
}

/// The text of a binary SID (`S-1-5-32-544`): revision, the 48-bit identifier
/// authority (decimal, as `ConvertSidToStringSidW` writes it below 2^32, else
/// hexadecimal `0x…`), then each sub-authority (little-endian `u32`). `None`
/// when the bytes are not a whole SID.
pub(crate) fn sid_text(bytes: &[u8]) -> Option<String> {
    let revision = *bytes.first()?;
    let count = usize::from(*bytes.get(1)?);
    if revision != 1 || count > 15 || bytes.len() != 8 + 4 * count {
        return None;
    }
    let authority = bytes
        .get(2..8)?
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut text = if authority < (1 << 32) {
        format!("S-1-{authority}")
    } else {
        format!("S-1-0x{authority:012X}")
    };
    for i in 0..count {
        let at = 8 + 4 * i;
        let sub = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
        text.push_str(&format!("-{sub}"));
    }
    Some(text)
}

/// The binary SID of `S-1-<authority>-<sub>…` (decimal authority below 2^32, up to
/// 15 sub-authorities), what `LookupAccountSidW` is given for a well-known group.
pub(crate) fn sid_bytes(text: &str) -> Option<Vec<u8>> {
    let mut parts = text.split('-');
    if !parts.next()?.eq_ignore_ascii_case("S") || parts.next()? != "1" {
        return None;
    }
    let authority: u64 = parts.next()?.parse().ok()?;
    if authority >= (1 << 48) {
        return None;
    }
    let subs: Vec<u32> = parts.map(|p| p.parse().ok()).collect::<Option<_>>()?;
    if subs.len() > 15 {
        return None;
    }
    let mut bytes = vec![1, u8::try_from(subs.len()).ok()?];
    bytes.extend_from_slice(authority.to_be_bytes().get(2..)?);
    for sub in subs {
        bytes.extend_from_slice(&sub.to_le_bytes());
    }
    Some(bytes)
}

/// The symbolic names of the `NET_API_STATUS` codes of the calls used here
/// (`lmerr.h`), which the system message table does not hold.
pub(crate) fn net_status_name(code: u32) -> Option<&'static str> {
    Some(match code {
        2102 => "NERR_NetNotStarted",
        2123 => "NERR_BufTooSmall",
        2138 => "NERR_WkstaNotStarted",
        2140 => "NERR_InternalError",
        2184 => "NERR_ServiceNotInstalled",
        2220 => "NERR_GroupNotFound",
        2221 => "NERR_UserNotFound",
        2351 => "NERR_InvalidComputer",
        2453 => "NERR_DCNotFound",
        _ => return None,
    })
}

/// The error text of a failed call: the call (empty when the source makes only
/// that one call, which the source's name already says), the number and what the
/// system says of it (`message`, `None` for a code it has no text for).
pub(crate) fn call_failed(call: &str, code: u32, message: Option<&str>) -> String {
    let named = net_status_name(code).map(str::to_owned);
    let number = format!("error {code} (0x{code:08X})");
    let text = match message
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .or(named.as_deref())
    {
        Some(text) => format!("{number}: {text}"),
        None => number,
    };
    if call.is_empty() {
        text
    } else {
        format!("{call} failed: {text}")
    }
}

/// The error of a call that Wine exports only as a stub that aborts the process
/// when called, so it is not called under Wine.
pub(crate) fn wine_stub(wine_version: &str) -> String {
    let version = if wine_version.is_empty() {
        String::new()
    } else {
        format!(" {wine_version}")
    };
    format!("not called: Wine{version} has it only as a stub that aborts the process")
}

/// `s` as a NUL-terminated UTF-16 string for a `PCWSTR` argument.
pub(crate) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

#[cfg(windows)]
pub(super) use calls::api;

/// The calls. Each `unsafe` block says why it is sound; every buffer a call
/// allocates is owned by a guard from the moment the call returns.
#[cfg(windows)]
#[allow(unsafe_code)]
mod calls {
    use std::ptr;

    use serde_json::Value;
    use windows_sys::Win32::Foundation::{
        ERROR_INSUFFICIENT_BUFFER, ERROR_MORE_DATA, GetLastError, HLOCAL, LocalFree,
    };
    use windows_sys::Win32::NetworkManagement::NetManagement::{
        FILTER_NORMAL_ACCOUNT, LOCALGROUP_MEMBERS_INFO_2, MAX_PREFERRED_LENGTH, NERR_Success,
        NetApiBufferFree, NetGetJoinInformation, NetLocalGroupGetMembers, NetUserEnum,
        NetUserModalsGet, USER_INFO_3, USER_MODALS_INFO_0, USER_MODALS_INFO_3,
    };
    use windows_sys::Win32::Security::Authentication::Identity::{
        AUDIT_POLICY_INFORMATION, AuditFree, AuditQuerySystemPolicy,
    };
    use windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW;
    use windows_sys::Win32::Security::{GetLengthSid, IsValidSid, LookupAccountSidW, PSID};
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    use windows_sys::Win32::System::SystemInformation::{
        GetFirmwareType, GetSystemFirmwareTable, RSMB,
    };
    use windows_sys::core::{GUID, PWSTR};

    use super::super::SourceError;
    use super::super::sources::{self, Source};
    use super::*;

    /// The answer of the api source `source` when it is one of this module's, else
    /// `None` (another module answers it).
    pub(in crate::host) fn api(source: &Source) -> Option<Result<Value, SourceError>> {
        let call: fn() -> Result<Value, String> = match source.id {
            id if id == sources::WIN_NETUSERMODALS.id => net_user_modals,
            id if id == sources::WIN_NETUSERENUM.id => net_user_enum,
            id if id == sources::WIN_LOCALGROUP_ADMINS.id => || local_group(ADMINISTRATORS_SID),
            id if id == sources::WIN_LOCALGROUP_REMOTE_DESKTOP.id => {
                || local_group(REMOTE_DESKTOP_USERS_SID)
            }
            id if id == sources::WIN_AUDITPOLICY.id => audit_policy,
            id if id == sources::WIN_SMBIOS_RSMB.id => smbios_rsmb,
            id if id == sources::WIN_FIRMWARE_TYPE.id => firmware_type,
            id if id == sources::WIN_JOIN_INFORMATION.id => join_information,
            _ => return None,
        };
        Some(call().map_err(|error| SourceError::Failed {
            what: source.describe(),
            error,
        }))
    }

    /// The text of a Win32 error number from the system's message table.
    fn message(code: u32) -> Option<String> {
        let text = std::io::Error::from_raw_os_error(code as i32).to_string();
        // std appends " (os error N)"; the number is written by `call_failed`.
        let text = text
            .strip_suffix(&format!(" (os error {})", code as i32))
            .unwrap_or(&text);
        // Without a message-table entry std writes "OS Error N (FormatMessageW()
        // returned error M)": no text, `call_failed` names the code instead.
        let none =
            text.is_empty() || text.starts_with("OS Error") || text.starts_with("Unknown error");
        (!none).then(|| text.to_owned())
    }

    fn failed(call: &str, code: u32) -> String {
        call_failed(call, code, message(code).as_deref())
    }

    fn last_error(call: &str) -> String {
        // SAFETY: reads the calling thread's last-error value; no arguments.
        failed(call, unsafe { GetLastError() })
    }

    /// A buffer allocated by a `Net*` call, freed with `NetApiBufferFree`.
    struct NetBuffer(*mut u8);

    impl Drop for NetBuffer {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: the pointer came from a Net* call that allocates with
                // NetApiBufferAllocate, and is freed exactly once, here.
                unsafe { NetApiBufferFree(self.0.cast()) };
            }
        }
    }

    /// A string allocated by `ConvertSidToStringSidW`, freed with `LocalFree`.
    struct LocalString(PWSTR);

    impl Drop for LocalString {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: ConvertSidToStringSidW allocates with LocalAlloc; freed
                // exactly once, here.
                unsafe { LocalFree(self.0 as HLOCAL) };
            }
        }
    }

    /// The policy array of `AuditQuerySystemPolicy`, freed with `AuditFree`.
    struct AuditBuffer(*mut AUDIT_POLICY_INFORMATION);

    impl Drop for AuditBuffer {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: allocated by AuditQuerySystemPolicy, whose documentation
                // names AuditFree; freed exactly once, here.
                unsafe { AuditFree(self.0.cast()) };
            }
        }
    }

    /// The text of a NUL-terminated UTF-16 string owned by a live buffer; `None`
    /// for a null pointer.
    ///
    /// # Safety
    /// `p` is null or points to a NUL-terminated UTF-16 string that stays valid
    /// for the call.
    unsafe fn text_of(p: *const u16) -> Option<String> {
        if p.is_null() {
            return None;
        }
        let mut len = 0usize;
        // SAFETY: the caller guarantees a NUL terminator; every unit up to it is
        // readable.
        while unsafe { *p.add(len) } != 0 {
            len += 1;
        }
        // SAFETY: `len` units from `p` were just read one by one.
        let units = unsafe { std::slice::from_raw_parts(p, len) };
        Some(String::from_utf16_lossy(units))
    }

    /// The fixed structure `T` that `NetUserModalsGet(NULL, level)` returns.
    fn user_modals<T: Copy>(level: u32) -> Result<T, String> {
        let mut raw: *mut u8 = ptr::null_mut();
        // SAFETY: a null server name is the local machine; `raw` receives a buffer
        // that `NetBuffer` frees.
        let status = unsafe { NetUserModalsGet(ptr::null(), level, &mut raw) };
        let buffer = NetBuffer(raw);
        let call = format!("NetUserModalsGet(NULL, {level})");
        if status != NERR_Success {
            return Err(failed(&call, status));
        }
        if buffer.0.is_null() {
            return Err(format!("{call}: no buffer returned"));
        }
        // SAFETY: on success the buffer holds one USER_MODALS_INFO_<level>, the
        // `T` the caller names for this level; read before the buffer is freed.
        Ok(unsafe { ptr::read_unaligned(buffer.0.cast::<T>()) })
    }

    fn net_user_modals() -> Result<Value, String> {
        let l0: USER_MODALS_INFO_0 = user_modals(0)?;
        let l3: USER_MODALS_INFO_3 = user_modals(3)?;
        Ok(modals_json(
            Modals0 {
                min_passwd_len: l0.usrmod0_min_passwd_len,
                max_passwd_age: l0.usrmod0_max_passwd_age,
                min_passwd_age: l0.usrmod0_min_passwd_age,
                password_hist_len: l0.usrmod0_password_hist_len,
                force_logoff: l0.usrmod0_force_logoff,
            },
            Modals3 {
                lockout_duration: l3.usrmod3_lockout_duration,
                lockout_observation_window: l3.usrmod3_lockout_observation_window,
                lockout_threshold: l3.usrmod3_lockout_threshold,
            },
        ))
    }

    /// The most rounds of a resumed enumeration (a guard against a server that
    /// keeps answering `ERROR_MORE_DATA`).
    const MAX_ROUNDS: usize = 10_000;

    fn net_user_enum() -> Result<Value, String> {
        // The source's name is the call.
        let call = "";
        let mut users = Vec::new();
        let mut resume: u32 = 0;
        for _ in 0..MAX_ROUNDS {
            let mut raw: *mut u8 = ptr::null_mut();
            let (mut read, mut total) = (0u32, 0u32);
            // SAFETY: every out-pointer is a live local; `raw` receives a buffer
            // that `NetBuffer` frees.
            let status = unsafe {
                NetUserEnum(
                    ptr::null(),
                    3,
                    FILTER_NORMAL_ACCOUNT,
                    &mut raw,
                    MAX_PREFERRED_LENGTH,
                    &mut read,
                    &mut total,
                    &mut resume,
                )
            };
            let buffer = NetBuffer(raw);
            if status != NERR_Success && status != ERROR_MORE_DATA {
                return Err(failed(call, status));
            }
            if !buffer.0.is_null() {
                let first = buffer.0.cast::<USER_INFO_3>();
                for i in 0..read as usize {
                    // SAFETY: the buffer holds `read` USER_INFO_3 entries; only the
                    // name, the RID and the flags are read (never usri3_password).
                    let (name, rid, flags) = unsafe {
                        let entry = &*first.add(i);
                        (
                            text_of(entry.usri3_name),
                            entry.usri3_user_id,
                            entry.usri3_flags,
                        )
                    };
                    users.push(User {
                        name: name.unwrap_or_default(),
                        rid,
                        flags,
                    });
                }
            }
            if status == NERR_Success {
                return Ok(users_json(&users));
            }
        }
        Err(format!("still more data after {MAX_ROUNDS} rounds"))
    }

    /// The account name of a SID on this machine (`LookupAccountSidW`), without
    /// its domain.
    fn account_name(sid: &[u8], text: &str) -> Result<String, String> {
        let call = format!("LookupAccountSidW({text})");
        let (mut name, mut domain) = (vec![0u16; 256], vec![0u16; 256]);
        for _ in 0..2 {
            let (mut name_len, mut domain_len) = (name.len() as u32, domain.len() as u32);
            let mut usage = 0i32;
            // SAFETY: `sid` is a whole binary SID (built by `sid_bytes`); the
            // buffers are writable for the lengths given, which the call updates.
            let ok = unsafe {
                LookupAccountSidW(
                    ptr::null(),
                    sid.as_ptr() as PSID,
                    name.as_mut_ptr(),
                    &mut name_len,
                    domain.as_mut_ptr(),
                    &mut domain_len,
                    &mut usage,
                )
            };
            if ok != 0 {
                let len = (name_len as usize).min(name.len());
                let got = String::from_utf16_lossy(name.get(..len).unwrap_or_default());
                return Ok(got.trim_end_matches('\0').to_owned());
            }
            // SAFETY: the thread's last-error value; no arguments.
            let code = unsafe { GetLastError() };
            if code != ERROR_INSUFFICIENT_BUFFER {
                return Err(failed(&call, code));
            }
            name = vec![0u16; (name_len as usize).max(name.len()) + 1];
            domain = vec![0u16; (domain_len as usize).max(domain.len()) + 1];
        }
        Err(format!("{call}: the name does not fit the buffer"))
    }

    /// The text of a SID a call returned: `ConvertSidToStringSidW`, else (when it
    /// fails) the same text written from the SID's bytes.
    fn sid_string(sid: PSID) -> Result<String, String> {
        if sid.is_null() {
            return Err("a member without a SID".to_owned());
        }
        let mut out: PWSTR = ptr::null_mut();
        // SAFETY: `sid` is the member SID of a live NetLocalGroupGetMembers buffer;
        // `out` receives a LocalAlloc'd string that `LocalString` frees.
        let ok = unsafe { ConvertSidToStringSidW(sid, &mut out) };
        let owned = LocalString(out);
        if ok != 0 {
            // SAFETY: on success `out` is a NUL-terminated string, alive until
            // `owned` drops.
            if let Some(text) = unsafe { text_of(owned.0) } {
                return Ok(text);
            }
        }
        // SAFETY: the thread's last-error value; no arguments.
        let code = unsafe { GetLastError() };
        // SAFETY: a valid SID (checked first) is GetLengthSid bytes long.
        let bytes = unsafe {
            if IsValidSid(sid) == 0 {
                return Err(failed("ConvertSidToStringSidW", code));
            }
            std::slice::from_raw_parts(sid.cast::<u8>(), GetLengthSid(sid) as usize)
        };
        sid_text(bytes).ok_or_else(|| failed("ConvertSidToStringSidW", code))
    }

    /// `win.api.localgroup_*`: the group's localised name, then its members.
    fn local_group(group_sid: &str) -> Result<Value, String> {
        let sid = sid_bytes(group_sid).ok_or_else(|| format!("{group_sid}: not a SID"))?;
        let group_name = account_name(&sid, group_sid)?;
        let call = format!("NetLocalGroupGetMembers(NULL, {group_name:?}, 2)");
        let name_w = wide(&group_name);
        let mut members = Vec::new();
        let mut resume: usize = 0;
        for _ in 0..MAX_ROUNDS {
            let mut raw: *mut u8 = ptr::null_mut();
            let (mut read, mut total) = (0u32, 0u32);
            // SAFETY: `name_w` is NUL-terminated and outlives the call; every
            // out-pointer is a live local; `raw` is freed by `NetBuffer`.
            let status = unsafe {
                NetLocalGroupGetMembers(
                    ptr::null(),
                    name_w.as_ptr(),
                    2,
                    &mut raw,
                    MAX_PREFERRED_LENGTH,
                    &mut read,
                    &mut total,
                    &mut resume,
                )
            };
            let buffer = NetBuffer(raw);
            if status != NERR_Success && status != ERROR_MORE_DATA {
                return Err(failed(&call, status));
            }
            if !buffer.0.is_null() {
                let first = buffer.0.cast::<LOCALGROUP_MEMBERS_INFO_2>();
                for i in 0..read as usize {
                    // SAFETY: the buffer holds `read` LOCALGROUP_MEMBERS_INFO_2
                    // entries whose pointers point into the same live buffer.
                    let (sid, usage, name) = unsafe {
                        let entry = &*first.add(i);
                        (
                            entry.lgrmi2_sid,
                            entry.lgrmi2_sidusage,
                            text_of(entry.lgrmi2_domainandname),
                        )
                    };
                    members.push(Member {
                        sid: sid_string(sid)?,
                        domain_and_name: name,
                        sid_usage: usage,
                    });
                }
            }
            if status == NERR_Success {
                return Ok(group_json(group_sid, &group_name, &members));
            }
        }
        Err(format!("{call}: still more data after {MAX_ROUNDS} rounds"))
    }

    fn audit_policy() -> Result<Value, String> {
        let call = "";
        let guid = GUID::from_u128(LOGON_SUBCATEGORY);
        let mut raw: *mut AUDIT_POLICY_INFORMATION = ptr::null_mut();
        // SAFETY: one GUID is passed with a count of 1; `raw` receives an array
        // that `AuditBuffer` frees.
        let ok = unsafe { AuditQuerySystemPolicy(&guid, 1, &mut raw) };
        // SAFETY: the thread's last-error value, read before anything else runs.
        let code = unsafe { GetLastError() };
        let buffer = AuditBuffer(raw);
        if !ok {
            return Err(failed(call, code));
        }
        if buffer.0.is_null() {
            return Err("no policy returned".to_owned());
        }
        // SAFETY: on success the array holds one entry per GUID asked: one.
        let entry = unsafe { &*buffer.0 };
        let g = entry.AuditSubCategoryGuid;
        Ok(audit_json(&[(
            guid_text(g.data1, g.data2, g.data3, g.data4),
            entry.AuditingInformation,
        )]))
    }

    fn smbios_rsmb() -> Result<Value, String> {
        let call = "";
        // SAFETY: a null buffer of size 0 asks for the size only.
        let size = unsafe { GetSystemFirmwareTable(RSMB, 0, ptr::null_mut(), 0) };
        if size == 0 {
            return Err(last_error(call));
        }
        // A real table is a few KiB; never allocate what a broken firmware claims.
        const MAX_RSMB_BYTES: u32 = 16 * 1024 * 1024;
        if size > MAX_RSMB_BYTES {
            return Err(format!("{size} bytes, more than {MAX_RSMB_BYTES}"));
        }
        let mut buf = vec![0u8; size as usize];
        // SAFETY: `buf` is writable for `size` bytes, the size given.
        let got = unsafe { GetSystemFirmwareTable(RSMB, 0, buf.as_mut_ptr(), size) };
        if got == 0 {
            return Err(last_error(call));
        }
        if got > size {
            return Err(format!("the table grew from {size} to {got} bytes"));
        }
        buf.truncate(got as usize);
        Ok(rsmb_json(&buf))
    }

    /// Wine's version when the process runs under Wine (its ntdll exports
    /// `wine_get_version`), else `None`.
    fn wine_version() -> Option<String> {
        let ntdll = wide("ntdll.dll");
        // SAFETY: `ntdll` is NUL-terminated; ntdll is loaded in every process and
        // the handle is not freed (GetModuleHandleW takes no reference).
        let module = unsafe { GetModuleHandleW(ntdll.as_ptr()) };
        if module.is_null() {
            return None;
        }
        // SAFETY: the name is a NUL-terminated ANSI string; `module` is live.
        let found = unsafe { GetProcAddress(module, c"wine_get_version".as_ptr().cast()) }?;
        // SAFETY: Wine's `const char *wine_get_version(void)` takes nothing and
        // returns a static NUL-terminated string; only Wine's ntdll exports the
        // name, and the pointer is transmuted to that exact signature.
        let text = unsafe {
            let call: unsafe extern "C" fn() -> *const std::ffi::c_char =
                std::mem::transmute(found);
            let p = call();
            if p.is_null() {
                return Some(String::new());
            }
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        };
        Some(text)
    }

    fn firmware_type() -> Result<Value, String> {
        // Wine (8.0 at least) exports GetFirmwareType as a stub whose call aborts
        // the whole process: under Wine the source answers an error instead.
        if let Some(version) = wine_version() {
            return Err(wine_stub(&version));
        }
        let mut kind = 0i32;
        // SAFETY: `kind` is a live out-parameter.
        if unsafe { GetFirmwareType(&mut kind) } == 0 {
            return Err(last_error(""));
        }
        Ok(firmware_json(kind))
    }

    fn join_information() -> Result<Value, String> {
        let mut name: PWSTR = ptr::null_mut();
        let mut status = 0i32;
        // SAFETY: both out-pointers are live locals; the name buffer is freed by
        // `NetBuffer`.
        let code = unsafe { NetGetJoinInformation(ptr::null(), &mut name, &mut status) };
        let buffer = NetBuffer(name.cast());
        if code != NERR_Success {
            return Err(failed("", code));
        }
        // SAFETY: on success the buffer is a NUL-terminated name.
        let text = unsafe { text_of(buffer.0.cast::<u16>()) }.unwrap_or_default();
        Ok(join_json(&text, status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_round_trip_between_text_and_bytes() {
        let admins = sid_bytes(ADMINISTRATORS_SID).unwrap();
        assert_eq!(
            admins,
            [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 0x02, 0, 0]
        );
        assert_eq!(sid_text(&admins).as_deref(), Some(ADMINISTRATORS_SID));
        for text in [
            REMOTE_DESKTOP_USERS_SID,
            "S-1-5-21-3623811015-3361044348-30300820-1013",
            "S-1-12-1-1234567890-1234567890-1234567890-1234567890",
            "S-1-1-0",
            "S-1-5-18",
        ] {
            let bytes = sid_bytes(text).unwrap();
            assert_eq!(sid_text(&bytes).as_deref(), Some(text), "{text}");
        }
        // An authority at or above 2^32 is written in hexadecimal, as Windows does.
        let big = [1, 1, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 1, 0, 0, 0];
        assert_eq!(sid_text(&big).as_deref(), Some("S-1-0x123456789ABC-1"));
    }

    #[test]
    fn broken_sids_are_refused_not_guessed() {
        for bad in [
            "",
            "S-1",
            "S-2-5-32",
            "X-1-5-32",
            "S-1-5-x",
            "S-1-5--1",
            "S-1-281474976710656",
            "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16",
        ] {
            assert_eq!(sid_bytes(bad), None, "{bad:?}");
        }
        assert_eq!(sid_text(&[]), None);
        assert_eq!(sid_text(&[1]), None);
        // The count says two sub-authorities, the bytes hold one.
        assert_eq!(sid_text(&[1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0]), None);
        // Revision 2 does not exist.
        assert_eq!(sid_text(&[2, 0, 0, 0, 0, 0, 0, 5]), None);
        // Trailing bytes are not part of a SID.
        assert_eq!(sid_text(&[1, 0, 0, 0, 0, 0, 0, 5, 0]), None);
    }

    #[test]
    fn sid_parsing_never_panics() {
        use proptest::prelude::*;
        proptest!(|(bytes in proptest::collection::vec(any::<u8>(), 0..80), text in ".{0,60}")| {
            let _ = sid_text(&bytes);
            if let Some(b) = sid_bytes(&text) {
                prop_assert!(sid_text(&b).is_some());
            }
        });
    }

    #[test]
    fn the_logon_guid_is_written_as_the_layout_says() {
        // As GUID::from_u128 splits it: data1, data2, data3, then data4 big-endian.
        let tail = (LOGON_SUBCATEGORY as u64).to_be_bytes();
        assert_eq!(
            guid_text(
                (LOGON_SUBCATEGORY >> 96) as u32,
                (LOGON_SUBCATEGORY >> 80) as u16,
                (LOGON_SUBCATEGORY >> 64) as u16,
                tail
            ),
            "0CCE9215-69AE-11D9-BED3-505054503030"
        );
        assert_eq!(
            guid_text(0xab, 0xc, 0xd, [0xe, 0xf, 0, 1, 2, 3, 4, 0xff]),
            "000000AB-000C-000D-0E0F-0001020304FF"
        );
        assert_eq!(
            audit_json(&[("0CCE9215-69AE-11D9-BED3-505054503030".into(), 3)]),
            json!({"subcategories": [{"guid": "0CCE9215-69AE-11D9-BED3-505054503030",
                "auditing_information": 3}]})
        );
    }

    #[test]
    fn the_layouts_are_exactly_the_source_tables() {
        assert_eq!(
            modals_json(
                Modals0 {
                    min_passwd_len: 14,
                    max_passwd_age: 4_294_967_295,
                    min_passwd_age: 86_400,
                    password_hist_len: 24,
                    force_logoff: 4_294_967_295,
                },
                Modals3 {
                    lockout_duration: 900,
                    lockout_observation_window: 900,
                    lockout_threshold: 5,
                }
            ),
            json!({"level0": {"min_passwd_len": 14, "max_passwd_age": 4294967295u32,
                "min_passwd_age": 86400, "password_hist_len": 24, "force_logoff": 4294967295u32},
                "level3": {"lockout_duration": 900, "lockout_observation_window": 900,
                "lockout_threshold": 5}})
        );
        assert_eq!(firmware_json(2), json!({"FirmwareType": 2}));
        assert_eq!(
            join_json("WORKGROUP", 2),
            json!({"name": "WORKGROUP", "status": 2})
        );
        assert_eq!(
            rsmb_json(&[0, 3, 4, 0, 0xff]),
            json!({"base64": "AAMEAP8="})
        );
        assert_eq!(rsmb_json(&[]), json!({"base64": ""}));
    }

    /// `USER_INFO_3` carries `usri3_password` (always null from NetUserEnum, but a
    /// field all the same): the layout has no place for it, whatever a user is
    /// given.
    #[test]
    fn the_user_list_records_name_rid_and_flags_only() {
        let v = users_json(&[
            User {
                name: "Administrator".into(),
                rid: 500,
                flags: 0x0203,
            },
            User {
                name: "Gast".into(),
                rid: 501,
                flags: 0x0223,
            },
        ]);
        assert_eq!(
            v,
            json!({"users": [{"name": "Administrator", "rid": 500, "flags": 515},
                {"name": "Gast", "rid": 501, "flags": 547}]})
        );
        for entry in v["users"].as_array().unwrap() {
            let keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["flags", "name", "rid"]);
        }
    }

    #[test]
    fn unresolved_members_keep_their_sid_and_no_name() {
        let member = |name: Option<&str>, usage| Member {
            sid: "S-1-5-21-1-2-3-1107".into(),
            domain_and_name: name.map(str::to_owned),
            sid_usage: usage,
        };
        let v = group_json(
            ADMINISTRATORS_SID,
            "Administratoren",
            &[
                Member {
                    sid: "S-1-5-21-9-9-9-500".into(),
                    domain_and_name: Some("PC\\Administrator".into()),
                    sid_usage: 1,
                },
                member(None, SID_TYPE_UNKNOWN),
                member(Some(""), 1),
                member(Some("S-1-5-21-1-2-3-1107"), SID_TYPE_UNKNOWN),
                member(Some("CORP\\S-1-5-21-1-2-3-1107"), 1),
                member(Some("CORP\\gone"), SID_TYPE_DELETED_ACCOUNT),
                member(Some("CORP\\Domain Admins"), 2),
            ],
        );
        assert_eq!(v["group_sid"], "S-1-5-32-544");
        assert_eq!(v["group_name"], "Administratoren");
        let names: Vec<&Value> = v["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["name"])
            .collect();
        assert_eq!(
            names,
            [
                &json!("PC\\Administrator"),
                &Value::Null,
                &Value::Null,
                &Value::Null,
                &Value::Null,
                &Value::Null,
                &json!("CORP\\Domain Admins"),
            ]
        );
        assert_eq!(v["members"][1]["sid"], "S-1-5-21-1-2-3-1107");
        assert_eq!(v["members"][1]["sid_usage"], 8);
    }

    #[test]
    fn call_errors_carry_the_number_and_a_name_where_windows_has_no_text() {
        assert_eq!(
            call_failed(
                "LookupAccountSidW(S-1-5-32-544)",
                5,
                Some("Access is denied.")
            ),
            "LookupAccountSidW(S-1-5-32-544) failed: error 5 (0x00000005): Access is denied."
        );
        assert_eq!(
            call_failed("NetLocalGroupGetMembers", 2220, None),
            "NetLocalGroupGetMembers failed: error 2220 (0x000008AC): NERR_GroupNotFound"
        );
        // A source of one call: its name already says which.
        assert_eq!(
            call_failed("", 124, Some("The system call level is not correct.")),
            "error 124 (0x0000007C): The system call level is not correct."
        );
        assert_eq!(call_failed("", 120, Some("  ")), "error 120 (0x00000078)");
        assert_eq!(wide("ab"), [0x61, 0x62, 0]);
        assert_eq!(
            wine_stub("8.0"),
            "not called: Wine 8.0 has it only as a stub that aborts the process"
        );
    }
}
