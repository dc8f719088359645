//! `disk.recovery_key_escrow` on macOS: the FileVault personal recovery key exists
//! and is escrowed to the MDM.

use attest_proto::{CheckResult, Status};
use serde_json::json;

use super::{FileVault, Read, fdesetup_status, read_command};
use crate::checks::macos::plist::{self as pl, PlistError};
use crate::checks::{Check, Context, command_evidence, not_applicable, unknown};
use crate::host::sources::{MACOS_FDESETUP_INSTITUTIONAL, MACOS_FDESETUP_PRK, MACOS_PROFILES};

/// The payload that makes macOS encrypt the personal recovery key to the MDM's
/// certificate.
pub const ESCROW_PAYLOAD: &str = "com.apple.security.FDERecoveryKeyEscrow";

/// The personal recovery key, encrypted to the MDM's certificate. Only its
/// presence and size are recorded: its bytes are never read.
pub const PRK_FILE: &str = "/var/db/FileVaultPRK.dat";

/// The escrow payloads installed (their `PayloadIdentifier` and `Location`, which
/// names the MDM; nothing else of the payload is kept).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EscrowPayload {
    pub identifier: Option<String>,
    pub location: Option<String>,
}

/// Every `com.apple.security.FDERecoveryKeyEscrow` payload in `profiles show -type
/// configuration -output stdout-xml`, wherever it sits in the plist (the output's
/// layout is to be pinned from a capture: catalogue open question 4).
pub fn parse_escrow_payloads(bytes: &[u8]) -> Result<Vec<EscrowPayload>, PlistError> {
    let value = pl::parse(bytes)?;
    Ok(pl::all_dicts(&value)
        .into_iter()
        .filter(|d| pl::string(d, "PayloadType").as_deref() == Some(ESCROW_PAYLOAD))
        .map(|d| EscrowPayload {
            identifier: pl::string(d, "PayloadIdentifier"),
            location: d
                .get("PayloadContent")
                .and_then(plist::Value::as_dictionary)
                .and_then(|c| pl::string(c, "Location")),
        })
        .collect())
}

/// Why `fdesetup haspersonalrecoverykey` output was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fdesetup printed {0:?}, neither true nor false")]
pub struct PrkOutputError(String);

/// `true` or `false`, alone on its line.
pub fn parse_has_prk(text: &str) -> Result<bool, PrkOutputError> {
    match text.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(PrkOutputError(super::clip(
            other.lines().next().unwrap_or_default(),
        ))),
    }
}

/// - not_applicable: FileVault is off (also pending enablement, or decrypting):
///   "FileVault is off: see disk.root_encrypted";
/// - pass: FileVault on (or encrypting), `fdesetup haspersonalrecoverykey` prints
///   `true`, a `com.apple.security.FDERecoveryKeyEscrow` payload is installed, and
///   `/var/db/FileVaultPRK.dat` exists;
/// - fail: no personal recovery key; or no escrow payload;
/// - unknown: offline (no commands run), a command failed (`profiles` and
///   `haspersonalrecoverykey` need root), output not understood, or the PRK file
///   cannot be examined.
///
/// Where the catalogue is silent: encryption in progress counts as FileVault on
/// (the key exists from enablement), decryption as off. With the payload installed
/// and no `FileVaultPRK.dat`, the key was never encrypted to the MDM (the payload
/// came after FileVault was enabled and the key was not rotated since): fail.
/// An institutional key (`fdesetup hasinstitutionalrecoverykey`) is recorded in
/// `facts.institutional_recovery_key` (`null` when not read), never counted: Apple
/// advises against FileVaultMaster keys. Whether the MDM ever fetched the escrowed key cannot be seen on the
/// Mac (catalogue open question 12).
pub struct RecoveryKeyEscrow;

const ID: &str = "disk.recovery_key_escrow";

impl Check for RecoveryKeyEscrow {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let memo = fdesetup_status(ctx);
        let fde = match &memo.0 {
            Ok(f) => f,
            Err(e) => return unknown(ID, &e.why).evidences(e.evidence.clone()),
        };
        let state = fde.value.state();
        let base = |r: CheckResult| r.fact("filevault", state.label()).evidence(fde.evidence());
        if matches!(
            state,
            FileVault::Off | FileVault::PendingRestart | FileVault::Decrypting
        ) {
            return base(not_applicable(
                ID,
                "FileVault is off: see disk.root_encrypted",
            ));
        }

        let prk: Read<bool> = match read_command(ctx, &MACOS_FDESETUP_PRK, parse_has_prk) {
            Ok(p) => p,
            Err(e) => return base(unknown(ID, e.why)).evidences(e.evidence),
        };
        let prk_evidence = command_evidence(&prk.output, prk.value.to_string());
        // Recorded, never counted: Apple advises against institutional keys.
        let institutional = read_command(ctx, &MACOS_FDESETUP_INSTITUTIONAL, parse_has_prk)
            .ok()
            .map(|r| r.value);
        let base = |r: CheckResult| {
            base(r)
                .fact("personal_recovery_key", prk.value)
                .fact("institutional_recovery_key", institutional)
                .evidence(prk_evidence.clone())
        };
        if !prk.value {
            return base(CheckResult::new(
                ID,
                Status::Fail,
                "FileVault is on but has no personal recovery key to escrow",
            ));
        }

        let payloads = match read_command(ctx, &MACOS_PROFILES, |s| {
            parse_escrow_payloads(s.as_bytes())
        }) {
            Ok(p) => p,
            Err(e) => return base(unknown(ID, e.why)).evidences(e.evidence),
        };
        let payload_excerpt = if payloads.value.is_empty() {
            format!("no {ESCROW_PAYLOAD} payload")
        } else {
            payloads
                .value
                .iter()
                .map(|p| {
                    format!(
                        "PayloadType {ESCROW_PAYLOAD} PayloadIdentifier {}",
                        p.identifier.as_deref().unwrap_or("(none)")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let payload_evidence = command_evidence(&payloads.output, payload_excerpt);
        let base = |r: CheckResult| {
            base(r)
                .fact("escrow_payloads", &payloads.value)
                .evidence(payload_evidence.clone())
        };
        if payloads.value.is_empty() {
            return base(CheckResult::new(
                ID,
                Status::Fail,
                format!(
                    "no FileVault recovery key escrow is configured (no {ESCROW_PAYLOAD} payload)"
                ),
            ));
        }

        // Presence and size only: the file's bytes are never read.
        let prk_file = match ctx.host.metadata(PRK_FILE) {
            Ok(meta) if meta.is_file() => {
                json!({"path": PRK_FILE, "present": true, "size": meta.len()})
            }
            Ok(_) => {
                return base(unknown(ID, format!("{PRK_FILE}: not a regular file")));
            }
            Err(e) if e.is_not_found() => json!({"path": PRK_FILE, "present": false}),
            Err(e) => return base(unknown(ID, e.to_string())),
        };
        let present = prk_file["present"] == true;
        let r = if present {
            CheckResult::new(
                ID,
                Status::Pass,
                format!(
                    "the FileVault personal recovery key is escrowed ({ESCROW_PAYLOAD} installed, \
                     {PRK_FILE} present)"
                ),
            )
        } else {
            CheckResult::new(
                ID,
                Status::Fail,
                format!(
                    "an escrow payload is installed but {PRK_FILE} is absent: the current \
                     personal recovery key was not escrowed (rotate it to escrow it)"
                ),
            )
        };
        base(r).fact("prk_file", prk_file)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::plist_dict;
    use super::*;
    use crate::host::fake::FakeHost;
    use crate::host::sources::MACOS_FDESETUP_STATUS;

    fn profiles(payload_type: &str) -> String {
        plist_dict(&format!(
            "\t<key>_computerlevel</key>\n\t<array>\n\t\t<dict>\n\
             \t\t\t<key>ProfileDisplayName</key>\n\t\t\t<string>FileVault</string>\n\
             \t\t\t<key>ProfileIdentifier</key>\n\t\t\t<string>com.example.mdm.filevault</string>\n\
             \t\t\t<key>ProfileInstallDate</key>\n\t\t\t<string>2026-10-01 09:00:00 +0000</string>\n\
             \t\t\t<key>ProfileItems</key>\n\t\t\t<array>\n\t\t\t\t<dict>\n\
             \t\t\t\t\t<key>PayloadContent</key>\n\t\t\t\t\t<dict>\n\
             \t\t\t\t\t\t<key>EncryptCertPayloadUUID</key>\n\t\t\t\t\t\t<string>9F0C1D3A-2B44-4C55-8D66-7E8899AABBCC</string>\n\
             \t\t\t\t\t\t<key>Location</key>\n\t\t\t\t\t\t<string>Example MDM</string>\n\
             \t\t\t\t\t</dict>\n\
             \t\t\t\t\t<key>PayloadIdentifier</key>\n\t\t\t\t\t<string>com.example.mdm.filevault.escrow</string>\n\
             \t\t\t\t\t<key>PayloadType</key>\n\t\t\t\t\t<string>{payload_type}</string>\n\
             \t\t\t\t\t<key>PayloadUUID</key>\n\t\t\t\t\t<string>0A1B2C3D-4E5F-4061-8273-8495A6B7C8D9</string>\n\
             \t\t\t\t</dict>\n\t\t\t</array>\n\t\t</dict>\n\t</array>\n"
        ))
    }

    const PRK_BYTES: &[u8] = b"PRK-CMS-ENVELOPE-4f1d9a77c2e0-never-in-a-report";

    /// FileVault on, a personal recovery key, the escrow payload and the PRK file.
    fn escrowed() -> FakeHost {
        FakeHost::macos()
            .link("/var", "private/var")
            .file("/private/var/db/FileVaultPRK.dat", PRK_BYTES)
            .command(&MACOS_FDESETUP_STATUS, 0, "FileVault is On.\n")
            .command(&MACOS_FDESETUP_PRK, 0, "true\n")
            .command(&MACOS_PROFILES, 0, &profiles(ESCROW_PAYLOAD))
    }

    #[test]
    fn escrow_payloads_are_found_wherever_they_sit() {
        let p = parse_escrow_payloads(profiles(ESCROW_PAYLOAD).as_bytes()).unwrap();
        assert_eq!(
            p,
            vec![EscrowPayload {
                identifier: Some("com.example.mdm.filevault.escrow".into()),
                location: Some("Example MDM".into()),
            }]
        );
        let none = parse_escrow_payloads(profiles("com.apple.wifi.managed").as_bytes()).unwrap();
        assert!(none.is_empty());
        assert!(parse_escrow_payloads(b"profiles: this command requires root\n").is_err());
    }

    #[test]
    fn has_prk_output() {
        assert_eq!(parse_has_prk("true\n"), Ok(true));
        assert_eq!(parse_has_prk("false\n"), Ok(false));
        assert_eq!(
            parse_has_prk("Error: must be root\n"),
            Err(PrkOutputError("Error: must be root".into()))
        );
    }

    #[test]
    fn an_escrowed_key_passes_and_no_byte_of_the_prk_file_is_reported() {
        let r = escrowed().run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["prk_file"]["present"], true);
        assert_eq!(r.facts["prk_file"]["size"], PRK_BYTES.len());
        assert_eq!(r.facts["personal_recovery_key"], true);
        assert_eq!(
            r.facts["escrow_payloads"][0]["identifier"],
            "com.example.mdm.filevault.escrow"
        );
        let report = serde_json::to_string(&r).unwrap();
        let text = std::str::from_utf8(PRK_BYTES).unwrap();
        assert!(!report.contains(text));
        // Not even a piece of it, nor its hash, nor its base64.
        assert!(!report.contains("4f1d9a77c2e0"));
        assert!(!report.contains(&crate::checks::sha256(PRK_BYTES)));
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(PRK_BYTES);
        assert!(!report.contains(&b64[..16]));
    }

    #[test]
    fn no_personal_recovery_key_fails() {
        let r = escrowed()
            .command(&MACOS_FDESETUP_PRK, 0, "false\n")
            .run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.summary,
            "FileVault is on but has no personal recovery key to escrow"
        );
        assert_eq!(r.facts["personal_recovery_key"], false);
    }

    #[test]
    fn no_escrow_payload_fails() {
        let r = escrowed()
            .command(&MACOS_PROFILES, 0, &profiles("com.apple.wifi.managed"))
            .run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(
            r.summary
                .contains("no com.apple.security.FDERecoveryKeyEscrow payload")
        );
        assert_eq!(r.facts["escrow_payloads"], json!([]));
    }

    #[test]
    fn a_payload_without_the_prk_file_fails() {
        let mut fake = escrowed();
        fake.remove("/private/var/db/FileVaultPRK.dat");
        let r = fake.run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.facts["prk_file"]["present"], false);
        assert!(r.summary.contains("absent"));
    }

    #[test]
    fn filevault_off_is_not_applicable() {
        for status in [
            "FileVault is Off.\n",
            "FileVault is Off, but will be enabled after the next restart.\n",
            "FileVault is On.\nDecryption in progress: Percent completed = 50\n",
        ] {
            let r = escrowed()
                .command(&MACOS_FDESETUP_STATUS, 0, status)
                .run(&RecoveryKeyEscrow);
            assert_eq!(r.status, Status::NotApplicable, "{status}");
            assert_eq!(
                r.reason.as_deref(),
                Some("FileVault is off: see disk.root_encrypted")
            );
        }
        // Encrypting counts as on.
        let r = escrowed()
            .command(
                &MACOS_FDESETUP_STATUS,
                0,
                "FileVault is On.\nEncryption in progress: Percent completed = 5\n",
            )
            .run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::Pass);
    }

    #[test]
    fn offline_unreadable_or_not_root_is_unknown() {
        let r = FakeHost::macos().run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(
            r.reason.as_deref(),
            Some("/usr/bin/fdesetup: live sources are not run on an offline root")
        );
        let r = escrowed()
            .command(&MACOS_PROFILES, 1, "profiles: this command requires root\n")
            .run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.as_deref().unwrap().contains("exit code 1"));
        let r = escrowed()
            .command(&MACOS_FDESETUP_PRK, 0, "maybe\n")
            .run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.as_deref().unwrap().contains("\"maybe\""));
        let r = escrowed().deny("/private/var/db").run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason
                .as_deref()
                .unwrap()
                .contains("permission denied; run as root")
        );
    }

    /// An institutional key is recorded and never changes the verdict; not read,
    /// the fact is null.
    #[test]
    fn an_institutional_key_is_recorded_not_counted() {
        let r = escrowed()
            .command(&MACOS_FDESETUP_INSTITUTIONAL, 0, "true\n")
            .run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["institutional_recovery_key"], true);
        let r = escrowed().run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["institutional_recovery_key"], json!(null));
        let r = escrowed()
            .command(&MACOS_FDESETUP_PRK, 0, "false\n")
            .command(&MACOS_FDESETUP_INSTITUTIONAL, 0, "true\n")
            .run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["institutional_recovery_key"], true);
    }
}
