//! `accounts.sudo_nopasswd` on macOS (ISO/IEC 27002:2022 8.2 Privileged access
//! rights, 5.15 Access control, 5.18 Access rights): the Linux check, unchanged. It reads
//! `/etc/sudoers` and what it includes with the same parser; on a Mac `/etc` is a
//! link to `private/etc`, which the host resolves, and the stock file ends with
//! `#includedir /private/etc/sudoers.d`.

pub use crate::checks::linux::accounts::sudoers::SudoNopasswd;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use attest_proto::Status;

    /// The active lines of macOS 14's `/etc/sudoers`.
    const MAC_SUDOERS: &str = "\
# sudoers file.
Defaults\tenv_reset
Defaults\tenv_keep += \"BLOCKSIZE\"
Defaults\tenv_keep += \"HOME MAIL\"
Defaults\tlecture_file = \"/etc/sudo_lecture\"
root\tALL = (ALL) ALL
%admin\tALL = (ALL) ALL
## Read drop-in files from /private/etc/sudoers.d
## (the '#' here does not indicate a comment)
#includedir /private/etc/sudoers.d
";

    fn mac() -> FakeHost {
        FakeHost::macos()
            .link("/etc", "private/etc")
            .file("/private/etc/sudoers", MAC_SUDOERS)
            .dir("/private/etc/sudoers.d")
    }

    #[test]
    fn the_stock_mac_sudoers_passes() {
        let r = mac().run(&SudoNopasswd);
        assert_eq!(r.status, Status::Pass, "{r:?}");
    }

    #[test]
    fn nopasswd_in_a_mac_drop_in_fails_naming_the_file() {
        let r = mac()
            .file(
                "/private/etc/sudoers.d/admins",
                "%admin ALL = (ALL) NOPASSWD: ALL\n",
            )
            .run(&SudoNopasswd);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("sudoers.d/admins"), "{text}");
    }

    #[test]
    fn an_unreadable_drop_in_is_unknown_and_an_unreadable_sudoers_too() {
        let r = mac()
            .file("/private/etc/sudoers.d/x", "root ALL = (ALL) ALL\n")
            .deny("/private/etc/sudoers.d/x")
            .run(&SudoNopasswd);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        let r = mac().deny("/private/etc/sudoers").run(&SudoNopasswd);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
    }
}
