//! `accounts.privileged_users` (info): who holds administrative rights.
//!
//! Lists the UID 0 accounts of `/etc/passwd`, the member lists of the groups
//! `sudo`, `wheel` and `admin` in `/etc/group` (the fourth field; users whose
//! primary group it is are not added), and the users and groups that sudoers
//! rules grant `ALL` commands (`User_Alias`es resolved to their members,
//! `Cmnd_Alias`es that contain `ALL` count as `ALL`, negated entries left out).
//! A source that cannot be read is named in `unavailable`; the result is still
//! `info`.

use std::collections::BTreeMap;

use attest_proto::{CheckResult, Evidence, Status};
use serde_json::json;

use super::{group, numbered, passwd, sudoers};
use crate::checks::{Check, Context};

/// The groups whose members administer the host.
pub const ADMIN_GROUPS: [&str; 3] = ["sudo", "wheel", "admin"];

pub struct PrivilegedUsers;

impl Check for PrivilegedUsers {
    fn id(&self) -> &'static str {
        "accounts.privileged_users"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let mut unavailable = Vec::new();
        let mut evidence = Vec::new();
        let mut parts = Vec::new();

        let passwd = passwd::get(ctx);
        let uid0: Vec<String> = match &passwd.0 {
            Ok(p) => {
                let zero = passwd::uid0(&p.value.accounts);
                let excerpt = zero
                    .iter()
                    .map(|a| numbered(a.lineno, &format!("{} uid={} gid={}", a.name, a.uid, a.gid)))
                    .collect::<Vec<_>>()
                    .join("\n");
                evidence.push(p.file.evidence(if excerpt.is_empty() {
                    "(no account has UID 0)".to_owned()
                } else {
                    excerpt
                }));
                let names: Vec<String> = zero.iter().map(|a| a.name.clone()).collect();
                parts.push(format!(
                    "UID 0: {}",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ));
                names
            }
            Err(e) => {
                unavailable.push(e.to_string());
                Vec::new()
            }
        };

        let groups = group::get(ctx);
        let mut admin_groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        match &groups.0 {
            Ok(g) => {
                let mut lines = Vec::new();
                for name in ADMIN_GROUPS {
                    if let Some(found) = g.value.iter().find(|x| x.name == name) {
                        lines.push(numbered(
                            found.lineno,
                            &format!(
                                "{} gid={} members={}",
                                found.name,
                                found.gid,
                                found.members.join(",")
                            ),
                        ));
                        parts.push(format!(
                            "{name}: {}",
                            if found.members.is_empty() {
                                "no members".to_owned()
                            } else {
                                found.members.join(", ")
                            }
                        ));
                        admin_groups.insert(name, found.members.clone());
                    }
                }
                evidence.push(g.file.evidence(if lines.is_empty() {
                    "(no sudo, wheel or admin group)".to_owned()
                } else {
                    lines.join("\n")
                }));
            }
            Err(e) => unavailable.push(e.to_string()),
        }

        let all = sudoers_all(ctx);
        parts.extend(all.part);
        evidence.extend(all.evidence);
        unavailable.extend(all.unavailable);
        let grants_fact = all.grants;

        if !unavailable.is_empty() {
            parts.push(format!("not read: {}", unavailable.join("; ")));
        }
        let summary = parts.join("; ");
        CheckResult::new(self.id(), Status::Info, summary)
            .fact("uid0_accounts", &uid0)
            .fact("admin_groups", &admin_groups)
            .fact("sudoers_all", grants_fact)
            .fact("unavailable", &unavailable)
            .evidences(evidence)
    }
}

/// The sudoers rules that grant `ALL` commands, as `accounts.privileged_users`
/// reports them on Linux and macOS.
#[derive(Debug, Default)]
pub struct SudoersAll {
    /// For the summary: "sudoers grants ALL to …", or "no /etc/sudoers".
    pub part: Option<String>,
    /// One `{principal, via, file, line}` per grant (fact `sudoers_all`).
    pub grants: Vec<serde_json::Value>,
    /// Per file, the granting lines.
    pub evidence: Vec<Evidence>,
    /// What could not be read.
    pub unavailable: Vec<String>,
}

/// Reads `/etc/sudoers` and what it includes (once per run) and lists the `ALL`
/// grants.
pub fn sudoers_all(ctx: &Context<'_>) -> SudoersAll {
    let mut out = SudoersAll::default();
    let sudo = sudoers::get(ctx);
    match &sudo.0 {
        Ok(s) => {
            let grants = sudoers::all_grants(s);
            let mut per_file: Vec<(String, Vec<String>)> = Vec::new();
            for g in &grants {
                out.grants.push(json!({
                    "principal": g.principal,
                    "via": g.via,
                    "file": g.file,
                    "line": g.lineno,
                }));
                let text = s
                    .lines
                    .iter()
                    .find(|l| l.file == g.file && l.line.lineno == g.lineno)
                    .map(|l| numbered(l.line.lineno, &l.line.text))
                    .unwrap_or_default();
                match per_file.iter_mut().find(|(p, _)| *p == g.file) {
                    Some((_, lines)) => {
                        if !lines.contains(&text) {
                            lines.push(text);
                        }
                    }
                    None => per_file.push((g.file.clone(), vec![text])),
                }
            }
            for (path, lines) in per_file {
                if let Some(f) = s.file(&path) {
                    out.evidence.push(f.evidence(lines.join("\n")));
                }
            }
            let mut names: Vec<&str> = Vec::new();
            for g in &grants {
                if !names.contains(&g.principal.as_str()) {
                    names.push(&g.principal);
                }
            }
            out.part = Some(if names.is_empty() {
                "sudoers grants ALL to no one".to_owned()
            } else {
                format!("sudoers grants ALL to {}", names.join(", "))
            });
            out.unavailable.extend(s.not_followed.iter().cloned());
        }
        Err(e) if e.is_not_found() => out.part = Some("no /etc/sudoers".to_owned()),
        Err(e) => out.unavailable.push(e.to_string()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::linux::accounts::sudoers::tests::{DEBIAN_SUDOERS, DEBIAN_SUDOERS_D_README};
    use crate::host::fake::FakeHost;

    #[test]
    fn lists_uid0_groups_and_sudoers_grants() {
        let h = FakeHost::linux().files(&[
            (
                "/etc/passwd",
                "root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/bash\n",
            ),
            (
                "/etc/group",
                "root:x:0:\nsudo:x:27:alice,bob\nadm:x:4:alice\nwheel:x:10:\n",
            ),
            ("/etc/sudoers", DEBIAN_SUDOERS),
            ("/etc/sudoers.d/README", DEBIAN_SUDOERS_D_README),
            (
                "/etc/sudoers.d/admins",
                "User_Alias ADMINS = carol, %ops\nADMINS ALL=(ALL) ALL\n",
            ),
        ]);
        let r = h.run(&PrivilegedUsers);
        assert_eq!(r.status, Status::Info);
        assert_eq!(r.facts["uid0_accounts"], json!(["root", "toor"]));
        assert_eq!(
            r.facts["admin_groups"],
            json!({"sudo": ["alice", "bob"], "wheel": []})
        );
        let principals: Vec<_> = r.facts["sudoers_all"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["principal"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(principals, ["root", "%sudo", "carol", "%ops"]);
        assert_eq!(r.facts["sudoers_all"][2]["via"], "ADMINS");
        assert_eq!(r.facts["sudoers_all"][2]["file"], "/etc/sudoers.d/admins");
        assert_eq!(
            r.summary,
            "UID 0: root, toor; sudo: alice, bob; wheel: no members; sudoers grants ALL to root, %sudo, carol, %ops"
        );
        assert_eq!(r.facts["unavailable"], json!([]));
    }

    #[test]
    fn missing_sources_are_named() {
        let h = FakeHost::linux().files(&[("/etc/passwd", "root:x:0:0::/root:/bin/sh\n")]);
        let r = h.run(&PrivilegedUsers);
        assert_eq!(r.status, Status::Info);
        assert_eq!(r.facts["unavailable"], json!(["/etc/group: not found"]));
        assert_eq!(
            r.summary,
            "UID 0: root; no /etc/sudoers; not read: /etc/group: not found"
        );
    }
}
