//! The local directory: `/var/db/dslocal/nodes/Default/users/*.plist` and
//! `groups/*.plist` (XML or binary plists whose attributes are arrays of values;
//! root only).
//!
//! Only the attributes the checks need are kept: `name`, `uid`, `generateduid`,
//! `shell`, `authentication_authority`, `IsHidden` of users; `name`, `users`,
//! `groupmembers`, `nestedgroups`, `generateduid` of groups. **`ShadowHashData` is
//! never kept**, nor anything derived from it but its kind ([`PasswordKind`]:
//! `empty`, `set`): a user plist is parsed and dropped at once, and its evidence
//! hashes the kept attributes, not the file (whose bytes carry the password hash).

use std::collections::{BTreeMap, BTreeSet};

use attest_proto::Evidence;
use plist::{Dictionary, Value};

use super::derive;
use crate::checks::macos::prefs;
use crate::checks::{Context, canonical_json, file_evidence, sha256};
use crate::host::{Host, join_path};

/// Where the local users are.
pub const USERS_DIR: &str = "/var/db/dslocal/nodes/Default/users";
/// Where the local groups are.
pub const GROUPS_DIR: &str = "/var/db/dslocal/nodes/Default/groups";
/// The group whose members are administrators.
pub const ADMIN_GROUP: &str = "admin";
/// The first uid of a human account on macOS.
pub const FIRST_HUMAN_UID: i64 = 501;
/// The marker in `authentication_authority` of an account with a local password.
pub const SHADOW_HASH: &str = ";ShadowHash;";
/// The shell of an account that cannot log in.
pub const NO_SHELL: &str = "/usr/bin/false";

/// A local user, without its password hash.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct User {
    pub name: String,
    pub uid: Option<i64>,
    /// The primary group (`gid`), kept to run a per-user command as the user.
    #[serde(skip)]
    pub gid: Option<i64>,
    pub generateduid: Option<String>,
    pub shell: Option<String>,
    pub authentication_authority: Vec<String>,
    pub hidden: bool,
    /// What `ShadowHashData` says of the empty password (`None`: no
    /// `ShadowHashData`). The only thing kept of it.
    #[serde(skip)]
    pub password: Option<PasswordKind>,
    /// The file it was read from.
    #[serde(skip)]
    pub path: String,
}

impl User {
    /// `authentication_authority` has `;ShadowHash;`: a local password exists.
    pub fn has_shadow_hash(&self) -> bool {
        self.authentication_authority
            .iter()
            .any(|a| a.contains(SHADOW_HASH))
    }

    /// The catalogue's disabled rule: no `;ShadowHash;` in
    /// `authentication_authority` and the shell is `/usr/bin/false`.
    pub fn disabled(&self) -> bool {
        !self.has_shadow_hash() && self.shell.as_deref() == Some(NO_SHELL)
    }

    /// Evidence of the user record. Not `file` evidence, whose SHA-256 is of the
    /// file's bytes: the file holds the password hash, and nothing derived from it
    /// may leave the host. It is `api` evidence of the record as the local directory
    /// gives it, the attributes read (never `ShadowHashData`), whose SHA-256 is of
    /// their canonical JSON, as for every `api` result.
    pub fn evidence(&self, excerpt: impl Into<String>) -> Evidence {
        let kept = serde_json::to_value(self).unwrap_or_default();
        Evidence::Api {
            name: format!(
                "local directory record {} (attributes read; ShadowHashData never)",
                self.path
            ),
            excerpt: excerpt.into(),
            sha256: sha256(canonical_json(&kept).as_bytes()),
        }
    }

    /// `name uid=N shell=S` for excerpts.
    pub fn describe(&self) -> String {
        format!(
            "{} uid={} shell={} shadowhash={}",
            self.name,
            self.uid.map_or_else(|| "?".to_owned(), |u| u.to_string()),
            self.shell.as_deref().unwrap_or("?"),
            self.has_shadow_hash()
        )
    }
}

/// A local group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub generateduid: Option<String>,
    pub users: Vec<String>,
    pub groupmembers: Vec<String>,
    pub nestedgroups: Vec<String>,
    pub path: String,
    pub evidence: Evidence,
}

/// Why a directory record could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: not a valid plist: {error}")]
    Parse { path: String, error: String },
    #[error("{path}: the top level is not a dictionary")]
    NotADictionary { path: String },
    #[error("{path}: no name")]
    NoName { path: String },
    #[error("{path}: uid {found:?} is not an integer")]
    BadUid { path: String, found: String },
}

fn dict_of(bytes: &[u8], path: &str) -> Result<Dictionary, RecordError> {
    let value = prefs::parse(bytes).map_err(|e| RecordError::Parse {
        path: path.to_owned(),
        error: e.to_string(),
    })?;
    value.into_dictionary().ok_or(RecordError::NotADictionary {
        path: path.to_owned(),
    })
}

/// The values of an attribute: an array of strings (or integers), or a single
/// value (tolerated).
fn values(dict: &Dictionary, key: &str) -> Vec<String> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    };
    match dict.get(key) {
        Some(Value::Array(items)) => items.iter().filter_map(one).collect(),
        Some(v) => one(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn first(dict: &Dictionary, key: &str) -> Option<String> {
    values(dict, key).into_iter().next()
}

/// Parses a user plist, and proves or refutes the empty password of its
/// `ShadowHashData` ([`verify_empty`]).
pub fn parse_user(bytes: &[u8], path: &str) -> Result<User, RecordError> {
    let (mut user, shadow) = parse_user_record(bytes, path)?;
    if let Some(shadow) = shadow {
        user.password = settle(&[shadow]).into_iter().next();
    }
    Ok(user)
}

/// Parses a user plist; the PBKDF2 record of its `ShadowHashData`, when it has a
/// verifiable one, is returned beside it to be settled with the others (the
/// user's `password` stays `unverifiable` until then).
fn parse_user_record(bytes: &[u8], path: &str) -> Result<(User, Option<Shadow>), RecordError> {
    let dict = dict_of(bytes, path)?;
    let name = first(&dict, "name").ok_or(RecordError::NoName {
        path: path.to_owned(),
    })?;
    let uid = match first(&dict, "uid") {
        None => None,
        Some(s) => Some(s.trim().parse::<i64>().map_err(|_| RecordError::BadUid {
            path: path.to_owned(),
            found: crate::checks::macos::disk::clip(&s),
        })?),
    };
    let hidden = first(&dict, "IsHidden")
        .map(|h| matches!(h.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
        .unwrap_or(false);
    let shadow = shadow_of(&dict);
    let user = User {
        name,
        uid,
        gid: first(&dict, "gid").and_then(|g| g.trim().parse().ok()),
        generateduid: first(&dict, "generateduid").map(|g| g.to_ascii_uppercase()),
        shell: first(&dict, "shell"),
        authentication_authority: values(&dict, "authentication_authority"),
        hidden,
        password: shadow.as_ref().map(|_| PasswordKind::Unverifiable),
        path: path.to_owned(),
    };
    Ok((user, shadow.flatten()))
}

/// The entry of `ShadowHashData`'s inner plist that is checked.
pub const PBKDF2_ENTRY: &str = "SALTED-SHA512-PBKDF2";
/// The length of `entropy` (PBKDF2-HMAC-SHA512 output) the catalogue names.
pub const ENTROPY_BYTES: usize = 128;
/// The first block of the PBKDF2-HMAC-SHA512 output: one SHA-512 length.
const FIRST_BLOCK: usize = 64;
/// The largest `iterations` worked through: macOS writes tens of thousands; a
/// larger number (a crafted plist) would make the check cost seconds per account,
/// so it is `unverifiable` instead.
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// What `ShadowHashData` says of the empty password: the only thing ever
/// recorded of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordKind {
    /// The password is empty.
    Empty,
    /// A password other than the empty one is set.
    Set,
    /// No `SALTED-SHA512-PBKDF2` with salt, iterations (1 to [`MAX_ITERATIONS`])
    /// and a 128-byte entropy: nothing can be said.
    Unverifiable,
}

impl PasswordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordKind::Empty => "empty",
            PasswordKind::Set => "set",
            PasswordKind::Unverifiable => "unverifiable",
        }
    }
}

/// A verifiable `SALTED-SHA512-PBKDF2` record, held from the parse of its plist
/// until [`settle`] has compared it; overwritten when dropped.
struct Shadow {
    salt: Vec<u8>,
    iterations: u32,
    entropy: Vec<u8>,
}

impl Drop for Shadow {
    fn drop(&mut self) {
        self.salt.fill(0);
        self.entropy.fill(0);
        std::hint::black_box(&self.entropy);
    }
}

/// The PBKDF2 record of a user plist's `ShadowHashData` (an array holding one
/// data value, itself a binary plist): `None` without `ShadowHashData`,
/// `Some(None)` when it holds nothing verifiable.
fn shadow_of(dict: &Dictionary) -> Option<Option<Shadow>> {
    let outer = dict.get("ShadowHashData")?;
    let inner = match outer {
        Value::Array(items) => items.iter().find_map(Value::as_data),
        Value::Data(d) => Some(d.as_slice()),
        _ => None,
    };
    Some(inner.and_then(shadow_record))
}

/// The salt, iterations (1 to [`MAX_ITERATIONS`]) and 128-byte entropy of the
/// `SALTED-SHA512-PBKDF2` entry of an inner `ShadowHashData` plist.
fn shadow_record(inner: &[u8]) -> Option<Shadow> {
    let dict = prefs::parse(inner).ok().and_then(Value::into_dictionary)?;
    let entry = dict.get(PBKDF2_ENTRY).and_then(Value::as_dictionary)?;
    let salt = entry.get("salt").and_then(Value::as_data)?;
    let entropy = entry.get("entropy").and_then(Value::as_data)?;
    let iterations = entry
        .get("iterations")
        .and_then(Value::as_unsigned_integer)
        .and_then(|i| u32::try_from(i).ok())
        .filter(|i| (1..=MAX_ITERATIONS).contains(i))?;
    (entropy.len() == ENTROPY_BYTES).then(|| Shadow {
        salt: salt.to_vec(),
        iterations,
        entropy: entropy.to_vec(),
    })
}

/// Whether the inner plist of `ShadowHashData` verifies the empty password:
/// PBKDF2-HMAC-SHA512("", salt, iterations, 128) compared with `entropy` in
/// constant time ([`settle`]). The derived bytes are overwritten and dropped at
/// once.
pub fn verify_empty(inner: &[u8]) -> PasswordKind {
    match shadow_record(inner) {
        Some(shadow) => settle(&[shadow])
            .into_iter()
            .next()
            .unwrap_or(PasswordKind::Unverifiable),
        None => PasswordKind::Unverifiable,
    }
}

/// Proves or refutes the empty password of every record at once, in their order.
///
/// PBKDF2 derives its output in independent blocks of one hash length (RFC 8018,
/// 5.2: block *i* depends on the password, the salt, the iterations and *i* only;
/// [`derive`]). Where one pass derives several blocks side by side (AVX-512), both
/// blocks of every record are derived in one go and each 128-byte output compared
/// whole. Elsewhere each record's first block is derived and compared with the
/// first 64 bytes of `entropy`, and only a record that matches (an empty password,
/// or a forged record) has its second block derived and compared with the rest: a
/// set password, the common case, costs half the work. Either way the blocks are
/// shared among the cores: tens of thousands of iterations per account are most of
/// a Mac's collection time.
fn settle(shadows: &[Shadow]) -> Vec<PasswordKind> {
    use subtle::ConstantTimeEq;
    fn job(s: &Shadow, index: u32) -> derive::Job<'_> {
        derive::Job {
            salt: &s.salt,
            iterations: s.iterations,
            index,
        }
    }
    let mut kinds = vec![PasswordKind::Set; shadows.len()];
    if derive::lanes() > 1 {
        let jobs: Vec<derive::Job<'_>> = shadows
            .iter()
            .flat_map(|s| [job(s, 1), job(s, 2)])
            .collect();
        let mut blocks = derive::blocks(&jobs);
        for ((kind, shadow), pair) in kinds.iter_mut().zip(shadows).zip(blocks.chunks(2)) {
            let (Some(one), Some(two)) = (pair.first(), pair.get(1)) else {
                *kind = PasswordKind::Unverifiable;
                continue;
            };
            let first: bool = one.ct_eq(&shadow.entropy[..FIRST_BLOCK]).into();
            let second: bool = two.ct_eq(&shadow.entropy[FIRST_BLOCK..]).into();
            if first & second {
                *kind = PasswordKind::Empty;
            }
        }
        wipe(&mut blocks);
        return kinds;
    }
    let jobs: Vec<derive::Job<'_>> = shadows.iter().map(|s| job(s, 1)).collect();
    let mut firsts = derive::blocks(&jobs);
    let matched: Vec<usize> = firsts
        .iter()
        .zip(shadows)
        .enumerate()
        .filter(|(_, (block, s))| bool::from(block.ct_eq(&s.entropy[..FIRST_BLOCK])))
        .map(|(i, _)| i)
        .collect();
    wipe(&mut firsts);
    let second_jobs: Vec<derive::Job<'_>> = matched
        .iter()
        .filter_map(|&i| shadows.get(i).map(|s| job(s, 2)))
        .collect();
    let mut seconds = derive::blocks(&second_jobs);
    for (&i, block) in matched.iter().zip(&seconds) {
        if let (Some(kind), Some(s)) = (kinds.get_mut(i), shadows.get(i))
            && bool::from(block.ct_eq(&s.entropy[FIRST_BLOCK..]))
        {
            *kind = PasswordKind::Empty;
        }
    }
    wipe(&mut seconds);
    kinds
}

/// Overwrites derived blocks before they are dropped.
fn wipe(blocks: &mut [[u8; FIRST_BLOCK]]) {
    for b in blocks.iter_mut() {
        b.fill(0);
    }
    std::hint::black_box(&blocks);
}

/// Parses a group plist.
pub fn parse_group(bytes: &[u8], path: &str) -> Result<Group, RecordError> {
    let dict = dict_of(bytes, path)?;
    let name = first(&dict, "name").ok_or(RecordError::NoName {
        path: path.to_owned(),
    })?;
    let upper = |v: Vec<String>| v.into_iter().map(|g| g.to_ascii_uppercase()).collect();
    let users = values(&dict, "users");
    let excerpt = format!("{name}: users = {}", users.join(", "));
    Ok(Group {
        generateduid: first(&dict, "generateduid").map(|g| g.to_ascii_uppercase()),
        groupmembers: upper(values(&dict, "groupmembers")),
        nestedgroups: upper(values(&dict, "nestedgroups")),
        users,
        path: path.to_owned(),
        evidence: file_evidence(path, bytes, excerpt),
        name,
    })
}

/// The local directory, as read.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

/// The members of a group, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Members {
    /// User names, sorted, each once.
    pub names: BTreeSet<String>,
    /// `groupmembers`/`nestedgroups` GeneratedUIDs that name no local user or group.
    pub unresolved: BTreeSet<String>,
    /// The groups walked (the group itself and every nested group), in order.
    pub groups: Vec<String>,
}

impl Directory {
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Members of group `name`: `users`, plus `groupmembers` resolved through the
    /// users' `generateduid`, plus the members of `nestedgroups` (group
    /// GeneratedUIDs), followed recursively; a group already walked is not walked
    /// again (cycles end).
    pub fn members(&self, name: &str) -> Members {
        let mut out = Members::default();
        let by_guid: BTreeMap<&str, &User> = self
            .users
            .iter()
            .filter_map(|u| u.generateduid.as_deref().map(|g| (g, u)))
            .collect();
        let groups_by_guid: BTreeMap<&str, &Group> = self
            .groups
            .iter()
            .filter_map(|g| g.generateduid.as_deref().map(|id| (id, g)))
            .collect();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut todo: Vec<&Group> = self.group(name).into_iter().collect();
        while let Some(group) = todo.pop() {
            if !seen.insert(group.name.clone()) {
                continue;
            }
            out.groups.push(group.name.clone());
            out.names.extend(group.users.iter().cloned());
            for guid in &group.groupmembers {
                match (
                    by_guid.get(guid.as_str()),
                    groups_by_guid.get(guid.as_str()),
                ) {
                    (Some(u), _) => {
                        out.names.insert(u.name.clone());
                    }
                    (None, Some(g)) => todo.push(g),
                    (None, None) => {
                        out.unresolved.insert(guid.clone());
                    }
                }
            }
            for guid in &group.nestedgroups {
                match groups_by_guid.get(guid.as_str()) {
                    Some(g) => todo.push(g),
                    None => {
                        out.unresolved.insert(guid.clone());
                    }
                }
            }
        }
        out
    }

    /// Human accounts: uid ≥ 501, or a member of `admin`.
    pub fn humans(&self) -> Vec<&User> {
        let admins = self.members(ADMIN_GROUP).names;
        self.users
            .iter()
            .filter(|u| u.uid.is_some_and(|id| id >= FIRST_HUMAN_UID) || admins.contains(&u.name))
            .collect()
    }

    /// Human accounts that are not disabled.
    pub fn enabled_humans(&self) -> Vec<&User> {
        self.humans()
            .into_iter()
            .filter(|u| !u.disabled())
            .collect()
    }

    /// Every user plist with uid 0.
    pub fn uid0(&self) -> Vec<&User> {
        self.users.iter().filter(|u| u.uid == Some(0)).collect()
    }
}

/// Reads and parses every `*.plist` of a directory with `parse`; names are sorted.
fn read_records<T>(
    host: &Host,
    dir: &str,
    parse: impl Fn(&[u8], &str) -> Result<T, RecordError>,
) -> Result<Vec<T>, String> {
    let names = host.list_dir(dir).map_err(|e| e.to_string())?;
    let mut records = Vec::new();
    for name in names.iter().filter(|n| n.ends_with(".plist")) {
        let path = join_path(dir, name);
        let bytes = host.read(&path).map_err(|e| e.to_string())?;
        // The bytes (and any ShadowHashData in them) are dropped at once.
        records.push(parse(&bytes, &path).map_err(|e| e.to_string())?);
    }
    Ok(records)
}

/// Reads the local directory. Any user or group plist that cannot be read or
/// parsed makes the whole directory unknown (it might be the record that decides).
/// The users' passwords are settled together ([`settle`]): their PBKDF2 blocks are
/// independent, so they share the cores (and a pass's lanes).
pub fn read(host: &Host) -> Result<Directory, String> {
    let records = read_records(host, USERS_DIR, parse_user_record)?;
    let mut users = Vec::with_capacity(records.len());
    let mut waiting = Vec::new();
    let mut shadows = Vec::new();
    for (user, shadow) in records {
        if let Some(shadow) = shadow {
            waiting.push(users.len());
            shadows.push(shadow);
        }
        users.push(user);
    }
    for (i, kind) in waiting.into_iter().zip(settle(&shadows)) {
        if let Some(user) = users.get_mut(i) {
            user.password = Some(kind);
        }
    }
    Ok(Directory {
        users,
        groups: read_records(host, GROUPS_DIR, parse_group)?,
    })
}

/// The local directory, read once per run.
pub struct DirectoryMemo(pub Result<Directory, String>);

pub fn directory(ctx: &Context<'_>) -> std::sync::Arc<DirectoryMemo> {
    ctx.memo(|ctx| DirectoryMemo(read(ctx.host)))
}
