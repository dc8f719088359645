//! The check catalogue: every check id a report may carry, in report order, the same
//! ids on every operating system, and the reason a check answers `not_applicable`
//! where it has no meaning.
//!
//! The data is `data/catalogue.toml`, compiled into the static [`CHECKS`] table by
//! this crate's build script (which refuses a malformed file). The agent's registry
//! and the collector's default control mapping are both tested against it: it is the
//! one place a check id is introduced.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An operating system the agent runs on or judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Linux,
    Macos,
    Windows,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Linux, Platform::Macos, Platform::Windows];

    /// The lowercase name used in files and on the wire: `linux`, `macos`, `windows`.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Linux => "linux",
            Platform::Macos => "macos",
            Platform::Windows => "windows",
        }
    }

    /// How a person writes it: `Linux`, `macOS`, `Windows`.
    pub fn label(self) -> &'static str {
        match self {
            Platform::Linux => "Linux",
            Platform::Macos => "macOS",
            Platform::Windows => "Windows",
        }
    }

    /// The platform named `name` (`linux`, `macos`, `windows`).
    pub fn from_name(name: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogueCheck {
    /// The stable id, `area.name`.
    pub id: &'static str,
    /// One line saying what a pass means.
    pub title: &'static str,
    /// The platforms where the check never applies, each with its reason.
    pub not_applicable: &'static [(Platform, &'static str)],
}

impl CatalogueCheck {
    /// Why the check never applies on `platform`, or `None` where it does.
    pub fn not_applicable_on(&self, platform: Platform) -> Option<&'static str> {
        self.not_applicable
            .iter()
            .find(|(p, _)| *p == platform)
            .map(|(_, reason)| *reason)
    }

    /// True when the check can decide something on `platform`.
    pub fn applies_on(&self, platform: Platform) -> bool {
        self.not_applicable_on(platform).is_none()
    }

    /// The area: the part of the id before the dot (`disk`, `patch`, …).
    pub fn area(&self) -> &'static str {
        self.id.split_once('.').map_or(self.id, |(area, _)| area)
    }
}

include!(concat!(env!("OUT_DIR"), "/catalogue.rs"));

/// The check with id `id`.
pub fn check(id: &str) -> Option<&'static CatalogueCheck> {
    CHECKS.iter().find(|c| c.id == id)
}

/// Every id, in report order.
pub fn ids() -> impl Iterator<Item = &'static str> {
    CHECKS.iter().map(|c| c.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_lists_33_checks_in_five_areas() {
        assert_eq!(CHECKS.len(), 33);
        let areas: Vec<&str> = CHECKS.iter().map(|c| c.area()).collect();
        let mut order = areas.clone();
        order.dedup();
        assert_eq!(
            order,
            [
                "disk",
                "patch",
                "accounts",
                "system",
                "malware",
                "inventory"
            ],
            "areas are contiguous, in report order"
        );
        assert_eq!(CHECKS[0].id, "disk.root_encrypted");
        assert_eq!(CHECKS[32].id, "inventory.software");
    }

    #[test]
    fn new_ids_take_their_place_in_their_area() {
        let pos = |id: &str| CHECKS.iter().position(|c| c.id == id).unwrap();
        assert_eq!(
            pos("disk.recovery_key_escrow"),
            pos("disk.swap_encrypted") + 1
        );
        assert_eq!(
            pos("accounts.guest_disabled"),
            pos("accounts.privileged_users") + 1
        );
        assert_eq!(
            pos("accounts.auto_login_disabled"),
            pos("accounts.guest_disabled") + 1
        );
        assert_eq!(
            pos("accounts.laps"),
            pos("accounts.auto_login_disabled") + 1
        );
        assert_eq!(pos("system.sip"), pos("system.secure_boot") + 1);
        assert_eq!(pos("system.smb1_disabled") + 1, pos("malware.protection"));
    }

    #[test]
    fn not_applicable_reasons_are_the_catalogues() {
        let reason = |id: &str, p: Platform| check(id).unwrap().not_applicable_on(p);
        assert_eq!(
            reason("accounts.sudo_nopasswd", Platform::Windows),
            Some("no sudoers; elevation is UAC, see system.uac")
        );
        assert_eq!(
            reason("disk.recovery_key_escrow", Platform::Linux),
            Some("no standard escrow for LUKS keys")
        );
        assert_eq!(reason("disk.recovery_key_escrow", Platform::Macos), None);
        assert_eq!(reason("system.uac", Platform::Windows), None);
        assert_eq!(reason("system.uac", Platform::Macos), Some("Windows only"));
        // Always not applicable: 7 ids on Linux, 4 on macOS, 5 on Windows.
        let count = |p: Platform| CHECKS.iter().filter(|c| !c.applies_on(p)).count();
        assert_eq!(count(Platform::Linux), 7);
        assert_eq!(count(Platform::Macos), 4);
        assert_eq!(count(Platform::Windows), 5);
    }

    #[test]
    fn platforms_round_trip_their_names() {
        for p in Platform::ALL {
            assert_eq!(Platform::from_name(p.as_str()), Some(p));
        }
        assert_eq!(Platform::from_name("Linux"), None);
    }
}
