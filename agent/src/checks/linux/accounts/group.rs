//! `/etc/group` (group(5)): `name:password:gid:member,member,…`, read as glibc's
//! `files` NSS module reads it (see [`super::passwd`] for the line rules).

use std::sync::Arc;

use super::Parsed;
use super::passwd::{data_lines, id_field};
use crate::checks::Context;
use crate::host::ReadError;

pub const GROUP_PATH: &str = "/etc/group";

/// One group. The password field is not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    /// The member list (fourth field), in file order, empty names dropped.
    pub members: Vec<String>,
    pub lineno: usize,
}

/// Parses `/etc/group`.
pub fn parse(text: &str) -> Vec<Group> {
    let mut out = Vec::new();
    for (lineno, line) in data_lines(text) {
        let mut fields = line.splitn(4, ':');
        let name = fields.next().unwrap_or("");
        let _password = fields.next();
        let Some(gid) = fields.next().and_then(id_field) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let members = fields
            .next()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect();
        out.push(Group {
            name: name.to_owned(),
            gid,
            members,
            lineno,
        });
    }
    out
}

/// The host's `/etc/group`, read once per run.
pub struct Memo(pub Result<Parsed<Vec<Group>>, ReadError>);

pub fn get(ctx: &Context<'_>) -> Arc<Memo> {
    ctx.memo(|ctx| Memo(super::load(ctx.host, GROUP_PATH, parse)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_members() {
        let groups = parse(
            "root:x:0:\nsudo:x:27:alice,bob\nwheel:x:10: carol , \n# x\nbad:x:zz:dave\nadm:x:4:syslog,alice\n",
        );
        let names: Vec<_> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["root", "sudo", "wheel", "adm"]);
        assert!(groups[0].members.is_empty());
        assert_eq!(groups[1].members, ["alice", "bob"]);
        assert_eq!(groups[1].gid, 27);
        assert_eq!(groups[2].members, ["carol"]);
        assert_eq!(groups[3].lineno, 6);
    }

    #[test]
    fn a_group_without_member_field_has_no_members() {
        let groups = parse("staff:x:50");
        assert_eq!(groups.len(), 1);
        assert!(groups[0].members.is_empty());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }
    }
}
