#!/usr/bin/env python3
"""Writes the Windows host fixtures under tests/fixtures/hosts/ (see its README).

Each Windows host is reviewable text: its hives as `.reg` files under `hives/`
(`SYSTEM.reg`, `SOFTWARE.reg`, `SAM.reg`, `SECURITY.reg`, `NTUSER.<profile>.reg`,
and `<HIVE>.LOG1.reg` for changes that are only in a transaction log), the
recorded live sources under `_captures/`, and plain files (`ProgramData/ssh/…`).
The end-to-end test turns `hives/` into real hive files with the agent's test-only
writer before it runs the agent (`tests/e2e/fixtures.rs`), so no fixture carries a
real SAM or SECURITY hive: every SAM value here is built below from the documented
layouts, with no password hash at all (the checks never read one).

Reproducible: every SID, GUID and date is fixed here. It writes `hives/`,
`_captures/` and the plain files only; each host's `expected.json` is written by
hand from the catalogue and never touched.

    python3 scripts/make-windows-fixtures.py            # from the repository root
"""

import base64
import json
import shutil
import struct
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOSTS = REPO / "tests" / "fixtures" / "hosts"
CAPTURED_AT = "2026-11-25T11:58:02Z"

# The source table (agent/src/host/sources.rs): id -> api name, exactly.
APIS = {
    "win.wmi.encryptable_volumes": "WMI ROOT\\CIMV2\\Security\\MicrosoftVolumeEncryption: Win32_EncryptableVolume",
    "win.wmi.volumes": "WMI ROOT\\CIMV2: Win32_Volume",
    "win.wua.snapshot": "WUA IUpdateSearcher.Search(IsInstalled=0 and Type='Software' and IsHidden=0) Online=false",
    "win.api.system_drive": "GetSystemDirectoryW",
    "win.wmi.licensing_esu": "WMI ROOT\\CIMV2: SELECT Name, Description, LicenseStatus, ID FROM SoftwareLicensingProduct WHERE LicenseStatus = 1 AND PartialProductKey IS NOT NULL",
    "win.api.netusermodals": "NetUserModalsGet(NULL, 0) and NetUserModalsGet(NULL, 3)",
    "win.api.netuserenum": "NetUserEnum(NULL, 3, FILTER_NORMAL_ACCOUNT)",
    "win.api.localgroup_admins": "NetLocalGroupGetMembers(NULL, <name of S-1-5-32-544>, 2)",
    "win.api.localgroup_remote_desktop": "NetLocalGroupGetMembers(NULL, <name of S-1-5-32-555>, 2)",
    "win.api.auditpolicy": "AuditQuerySystemPolicy({0CCE9215-69AE-11D9-BED3-505054503030})",
    "win.api.firewall_profiles": "INetFwPolicy2.FirewallEnabled(NET_FW_PROFILE2_DOMAIN, _PRIVATE, _PUBLIC)",
    "win.wsc.products": "IWSCProductList.Initialize(WSC_SECURITY_PROVIDER_ANTIVIRUS, WSC_SECURITY_PROVIDER_FIREWALL)",
    "win.wmi.defender_status": "WMI ROOT\\Microsoft\\Windows\\Defender: MSFT_MpComputerStatus",
    "win.wmi.optionalfeature_smb1": "WMI ROOT\\CIMV2: SELECT Name, InstallState FROM Win32_OptionalFeature WHERE Name = 'SMB1Protocol'",
    "win.api.smbios_rsmb": "GetSystemFirmwareTable('RSMB', 0)",
    "win.api.firmware_type": "GetFirmwareType",
    "win.api.join_information": "NetGetJoinInformation(NULL)",
    "win.wmi.deviceguard": "WMI ROOT\\Microsoft\\Windows\\DeviceGuard: Win32_DeviceGuard",
    "win.wmi.tpm": "WMI ROOT\\CIMV2\\Security\\MicrosoftTpm: Win32_Tpm",
}

MACHINE_SID = "S-1-5-21-1004336348-1177238915-682003330"
DOMAIN_SID = "S-1-5-21-3623811015-3361044348-30300820"
ENTRA_USER_SID = "S-1-12-1-3847925617-1305216862-2812093096-2618478291"

SECURITY_UPDATES = "0FA1201D-4330-4FA8-8AE9-B877473B6441"
CRITICAL_UPDATES = "E6CF1350-C01B-414D-A61F-263D14D133B4"
DEFINITION_UPDATES = "E0789628-CE08-4437-BE74-2495B842F43B"


# ---------------------------------------------------------------------------
# .reg text


def reg_text(keys, prefix):
    """`keys`: list of (key path below the hive root, {name: value}) in order.
    A value is a str (REG_SZ), an int (REG_DWORD), ("qword", n), ("binary", bytes),
    ("multi", [str]), ("expand", str) or ("type", n, bytes) for an odd type."""
    out = ["Windows Registry Editor Version 5.00", ""]
    for key, values in keys:
        out.append(f"[{prefix}\\{key}]")
        for name, value in values.items():
            if value is None:
                continue
            shown = "@" if name == "" else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
            out.append(wrap(f"{shown}={reg_value(value)}"))
        out.append("")
    return "\n".join(out)


def hive_prefix(hive):
    """The root a hive's keys are exported below: `HKEY_LOCAL_MACHINE\\SAM` (whose
    root key holds a `SAM` key: the live path is `HKLM\\SAM\\SAM\\Domains`), or
    `HKEY_CURRENT_USER` for a user's `NTUSER.<profile>`."""
    return "HKEY_CURRENT_USER" if hive.startswith("NTUSER.") else f"HKEY_LOCAL_MACHINE\\{hive}"


def wrap(line, width=78):
    """Long hex data wrapped as regedit writes it: `,\\` at the end of a line,
    two spaces before the next."""
    if len(line) <= width or "=hex" not in line:
        return line
    lines, current = [], ""
    for part in line.split(","):
        piece = part + ","
        if current and len(current) + len(piece) + 1 > width:
            lines.append(current + "\\")
            current = "  "
        current += piece
    lines.append(current.rstrip(","))
    return "\n".join(lines)


def hexlist(data):
    return ",".join(f"{b:02x}" for b in data)


def reg_value(value):
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        raise TypeError("bool")
    if isinstance(value, int):
        return f"dword:{value:08x}"
    kind = value[0]
    if kind == "qword":
        return "hex(b):" + hexlist(struct.pack("<Q", value[1]))
    if kind == "binary":
        return "hex:" + hexlist(value[1])
    if kind == "multi":
        data = "".join(s + "\0" for s in value[1]) + "\0"
        return "hex(7):" + hexlist(data.encode("utf-16-le"))
    if kind == "expand":
        return "hex(2):" + hexlist((value[1] + "\0").encode("utf-16-le"))
    if kind == "type":
        return f"hex({value[1]:x}):" + hexlist(value[2])
    raise ValueError(kind)


# ---------------------------------------------------------------------------
# SAM values, built from the documented layouts (no hash anywhere)


def filetime_interval(days):
    """A negative 100-ns interval of `days` (SAM's ages and durations)."""
    return -int(days * 86400 * 10_000_000)


NEVER = -0x8000000000000000


def domain_f(min_len, history, max_age_days, min_age_days, lockout_threshold,
             lockout_minutes, window_minutes, complexity):
    """`SAM\\Domains\\Account\\F` (DOMAIN_ACCOUNT_F), 0x68 bytes."""
    f = bytearray(0x68)
    struct.pack_into("<HH", f, 0x00, 3, 0)
    struct.pack_into("<q", f, 0x08, 133_000_000_000_000_000)
    struct.pack_into("<q", f, 0x18, NEVER if max_age_days is None else filetime_interval(max_age_days))
    struct.pack_into("<q", f, 0x20, filetime_interval(min_age_days))
    struct.pack_into("<q", f, 0x28, NEVER)
    struct.pack_into("<q", f, 0x30, filetime_interval(lockout_minutes / 1440))
    struct.pack_into("<q", f, 0x38, filetime_interval(window_minutes / 1440))
    struct.pack_into("<I", f, 0x48, 1001)
    struct.pack_into("<I", f, 0x4C, 1 if complexity else 0)
    struct.pack_into("<HHH", f, 0x50, min_len, history, lockout_threshold)
    struct.pack_into("<II", f, 0x58, 1, 3)
    return bytes(f)


ACB_DISABLED = 0x0001
ACB_PWNOTREQ = 0x0004
ACB_NORMAL = 0x0010
ACB_PWNOEXP = 0x0200


def user_f(rid, acb):
    """`SAM\\Domains\\Account\\Users\\<RID>\\F` (the fixed user record), 0x50 bytes."""
    f = bytearray(0x50)
    struct.pack_into("<HH", f, 0x00, 2, 0)
    struct.pack_into("<q", f, 0x18, 133_400_000_000_000_000)  # password last set
    struct.pack_into("<q", f, 0x20, 0x7FFFFFFFFFFFFFFF)  # account never expires
    struct.pack_into("<I", f, 0x30, rid)
    struct.pack_into("<I", f, 0x34, 513)
    struct.pack_into("<H", f, 0x38, acb)
    return bytes(f)


def sid_bytes(sid):
    parts = sid.split("-")
    assert parts[0] == "S"
    revision, authority = int(parts[1]), int(parts[2])
    subs = [int(p) for p in parts[3:]]
    return (bytes([revision, len(subs)]) + authority.to_bytes(6, "big")
            + b"".join(struct.pack("<I", s) for s in subs))


def alias_c(rid, name, comment, members):
    """`SAM\\Domains\\Builtin\\Aliases\\<RID>\\C`: a 0x34-byte header (RID, then
    offset/length pairs relative to the end of the header: name at 0x10/0x14,
    comment at 0x1C/0x20, members at 0x28/0x2C, member count at 0x30), then the
    UTF-16 name and comment and the members' binary SIDs back to back."""
    name_b = name.encode("utf-16-le")
    comment_b = comment.encode("utf-16-le")
    members_b = b"".join(sid_bytes(s) for s in members)
    header = bytearray(0x34)
    struct.pack_into("<I", header, 0x00, rid)
    struct.pack_into("<I", header, 0x04, 3)
    struct.pack_into("<II", header, 0x10, 0, len(name_b))
    struct.pack_into("<II", header, 0x1C, len(name_b), len(comment_b))
    struct.pack_into("<II", header, 0x28, len(name_b) + len(comment_b), len(members_b))
    struct.pack_into("<I", header, 0x30, len(members))
    return bytes(header) + name_b + comment_b + members_b


def sam_keys(users, policy, admins, rdp):
    """users: [(name, rid, acb)]; policy: domain_f arguments."""
    keys = [
        ("SAM", {}),
        ("SAM\\Domains", {}),
        ("SAM\\Domains\\Account", {"F": ("binary", domain_f(**policy))}),
        ("SAM\\Domains\\Account\\Users", {}),
    ]
    for name, rid, acb in users:
        keys.append((f"SAM\\Domains\\Account\\Users\\{rid:08X}", {"F": ("binary", user_f(rid, acb))}))
    keys.append(("SAM\\Domains\\Account\\Users\\Names", {}))
    for name, rid, acb in users:
        # The RID is the *type* of the name key's default value; its data is empty.
        keys.append((f"SAM\\Domains\\Account\\Users\\Names\\{name}", {"": ("type", rid, b"")}))
    keys += [
        ("SAM\\Domains\\Builtin", {}),
        ("SAM\\Domains\\Builtin\\Aliases", {}),
        ("SAM\\Domains\\Builtin\\Aliases\\00000220",
         {"C": ("binary", alias_c(0x220, "Administrators", "Administrators have complete and unrestricted access to the computer/domain", admins))}),
        ("SAM\\Domains\\Builtin\\Aliases\\0000022B",
         {"C": ("binary", alias_c(0x22B, "Remote Desktop Users", "Members in this group are granted the right to logon remotely", rdp))}),
    ]
    return keys


# ---------------------------------------------------------------------------
# Hosts


def filetime(iso):
    """FILETIME (100 ns since 1601) of an ISO date-time in UTC."""
    import datetime as dt
    t = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    epoch = dt.datetime(1601, 1, 1, tzinfo=dt.timezone.utc)
    return int((t - epoch).total_seconds()) * 10_000_000


def smbios(vendor, bios_version, manufacturer, product, version, serial):
    """A raw SMBIOS table as GetSystemFirmwareTable('RSMB') returns it: the
    RawSMBIOSData header, type 0, type 1 and the end-of-table structure."""
    def strings(*items):
        return b"".join(s.encode() + b"\0" for s in items) + b"\0"
    t0 = bytes([0, 0x18]) + struct.pack("<H", 0) + bytes([1, 2]) + struct.pack("<H", 0xE800) + \
        bytes([3, 0xFF]) + struct.pack("<Q", 0x0B) + bytes([0x03, 0x0D, 1, 0, 0xFF, 0xFF]) + b"\0\0"
    t0 = t0[:0x18] + strings(vendor, bios_version, "11/04/2026")
    uuid = bytes(range(16))
    t1 = bytes([1, 0x1B]) + struct.pack("<H", 1) + bytes([1, 2, 3, 4]) + uuid + bytes([6, 5, 6])
    t1 = t1 + strings(manufacturer, product, version, serial, "SKU", "Family")
    t127 = bytes([127, 4]) + struct.pack("<H", 2) + b"\0\0"
    table = t0 + t1 + t127
    header = bytes([0, 3, 6, 0]) + struct.pack("<I", len(table))
    return base64.b64encode(header + table).decode()


def software_identity(build, ubr, edition, display, installation):
    return {
        "CurrentBuild": str(build), "CurrentBuildNumber": str(build), "UBR": ubr,
        "EditionID": edition, "DisplayVersion": display, "InstallationType": installation,
        # ProductName says "Windows 10" on Windows 11: never read.
        "ProductName": "Windows 10 Enterprise" if build >= 22000 else f"Windows 10 {edition}",
        "CurrentMajorVersionNumber": 10, "CurrentMinorVersionNumber": 0,
        "RegisteredOwner": "IT", "SystemRoot": "C:\\Windows",
    }


def uninstall(entries):
    keys = []
    for key, values in entries:
        keys.append((key, values))
    return keys


def host(h):
    """Writes one host from its description `h` (a dict, see HOSTS_SPEC)."""
    root = HOSTS / h["name"]
    for sub in ("hives", "_captures", "ProgramData"):
        if (root / sub).exists():
            shutil.rmtree(root / sub)
    (root / "hives").mkdir(parents=True, exist_ok=True)
    for hive, keys in h["hives"].items():
        (root / "hives" / f"{hive}.reg").write_text(reg_text(keys, hive_prefix(hive)))
    for rel, text in h.get("files", {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    captures = h.get("captures")
    if captures is None:
        return
    (root / "_captures").mkdir()
    sources = {}
    for sid, value in sorted(captures.items()):
        if isinstance(value, Exception):
            sources[sid] = {"kind": "api", "name": APIS[sid], "status": "error", "error": str(value)}
            continue
        sources[sid] = {"kind": "api", "name": APIS[sid], "status": "ok"}
        (root / "_captures" / f"{sid}.json").write_text(json.dumps(value, indent=2) + "\n")
    manifest = {
        "schema": "attest.captures/v1",
        "os": "windows",
        "captured_at": CAPTURED_AT,
        "captured_on": h["captured_on"],
        "sources": sources,
    }
    (root / "_captures" / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


class Err(Exception):
    pass


def system_hive(computer, product_type, services, extra=(), domain="", secure_boot=1,
                firmware=2, manufacturer="Dell Inc.", model="Latitude 7450", bios="1.14.0",
                smb1_server=None, relax=None):
    cs = "ControlSet001"
    keys = [
        ("Select", {"Current": 1, "Default": 1, "Failed": 0, "LastKnownGood": 1}),
        (f"{cs}\\Control\\ProductOptions", {"ProductType": product_type}),
        (f"{cs}\\Control\\ComputerName\\ComputerName", {"ComputerName": computer}),
        (f"{cs}\\Control\\SystemInformation", {"SystemManufacturer": manufacturer, "SystemProductName": model, "BIOSVersion": bios}),
        (f"{cs}\\Control", {"PEFirmwareType": firmware}),
        (f"{cs}\\Control\\Lsa", {"LimitBlankPasswordUse": 1, "RunAsPPL": 2}),
        (f"{cs}\\Control\\Session Manager\\Memory Management",
         {"PagingFiles": ("multi", ["?:\\pagefile.sys"]), "ExistingPageFiles": ("multi", ["\\??\\C:\\pagefile.sys"])}),
        (f"{cs}\\Control\\FileSystem", {"NtfsEncryptPagingFile": 0}),
        (f"{cs}\\Services\\Tcpip\\Parameters", {"Hostname": computer, "Domain": domain}),
    ]
    if relax is not None:
        keys.append((f"{cs}\\Control\\SAM", {"RelaxMinimumPasswordLengthLimits": relax}))
    if firmware == 2:
        keys.append((f"{cs}\\Control\\SecureBoot\\State", {"UEFISecureBootEnabled": secure_boot}))
    for name, values in services.items():
        keys.append((f"{cs}\\Services\\{name}", values))
    if smb1_server is not None:
        keys.append((f"{cs}\\Services\\LanmanServer\\Parameters", {"SMB1": smb1_server}))
    keys += list(extra)
    return keys


BASE_SERVICES = {
    "W32Time": {"Start": 3, "ObjectName": "NT AUTHORITY\\LocalService"},
    "W32Time\\Parameters": {"Type": "NTP", "NtpServer": "time.windows.com,0x9"},
    "W32Time\\TimeProviders\\NtpClient": {"Enabled": 1},
    "W32Time\\TimeProviders\\VMICTimeProvider": {"Enabled": 0},
    "EventLog": {"Start": 2},
    "MpsSvc": {"Start": 2},
    "SharedAccess\\Parameters\\FirewallPolicy\\DomainProfile": {"EnableFirewall": 1},
    "SharedAccess\\Parameters\\FirewallPolicy\\StandardProfile": {"EnableFirewall": 1},
    "SharedAccess\\Parameters\\FirewallPolicy\\PublicProfile": {"EnableFirewall": 1},
    "wuauserv": {"Start": 3},
    "UsoSvc": {"Start": 2},
    "WinDefend": {"Start": 2},
    "mrxsmb10": {"Start": 4},
    "LanmanServer": {"Start": 2},
    "TPM": {"Start": 3},
}


def services(**changes):
    out = {k: dict(v) for k, v in BASE_SERVICES.items()}
    for name, values in changes.items():
        name = name.replace("__", "\\")
        if values is None:
            out.pop(name, None)
        else:
            out.setdefault(name, {}).update(values)
    return out


def software_hive(identity, extra=(), profiles=(), machine_guid="6f1c8b2e-3d4a-4b5c-9e8f-0a1b2c3d4e5f",
                  winlogon=None, apps=()):
    cv = "Microsoft\\Windows NT\\CurrentVersion"
    keys = [
        (cv, identity),
        ("Microsoft\\Cryptography", {"MachineGuid": machine_guid}),
        (f"{cv}\\Winlogon", winlogon or {"AutoAdminLogon": "0", "Shell": "explorer.exe"}),
        (f"{cv}\\ProfileList", {"ProfilesDirectory": ("expand", "%SystemDrive%\\Users")}),
        (f"{cv}\\ProfileList\\S-1-5-18", {"ProfileImagePath": ("expand", "%systemroot%\\system32\\config\\systemprofile")}),
        (f"{cv}\\ProfileList\\S-1-5-19", {"ProfileImagePath": ("expand", "%systemroot%\\ServiceProfiles\\LocalService")}),
    ]
    for sid, directory in profiles:
        keys.append((f"{cv}\\ProfileList\\{sid}", {"ProfileImagePath": f"C:\\Users\\{directory}", "State": 0}))
    keys.append(("WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall", {}))
    keys.append(("Microsoft\\Windows\\CurrentVersion\\Uninstall", {}))
    for key, values in apps:
        keys.append((key, values))
    keys += list(extra)
    return keys


UNINSTALL = "Microsoft\\Windows\\CurrentVersion\\Uninstall"
UNINSTALL32 = "WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall"

COMMON_APPS = [
    (f"{UNINSTALL}\\7-Zip", {"DisplayName": "7-Zip 24.09 (x64)", "DisplayVersion": "24.09", "Publisher": "Igor Pavlov"}),
    (f"{UNINSTALL}\\{{23170F69-40C1-2702-2409-000001000000}}", {"DisplayName": "Microsoft Visual C++ 2022 X64 Minimum Runtime - 14.42.34433", "DisplayVersion": "14.42.34433", "SystemComponent": 1}),
    (f"{UNINSTALL}\\KB5046617", {"DisplayName": "Security Update for Windows (KB5046617)", "ReleaseType": "Security Update", "ParentKeyName": "OperatingSystem"}),
    (f"{UNINSTALL}\\{{90160000-008C-0000-1000-0000000FF1CE}}", {"DisplayVersion": "16.0.18129.20158"}),
    (f"{UNINSTALL32}\\Mozilla Firefox 133.0 (x86 en-US)", {"DisplayName": "Mozilla Firefox (x86 en-US)", "DisplayVersion": "133.0", "Publisher": "Mozilla"}),
    (f"{UNINSTALL32}\\{{AC76BA86-7AD7-1033-7B44-AC0F074E4100}}", {"DisplayName": "Adobe Acrobat (64-bit)", "DisplayVersion": "24.004.20272", "Publisher": "Adobe"}),
]


def desktop(active, secure, timeout, policy=None):
    keys = [("Control Panel\\Desktop", {"ScreenSaveActive": active, "ScreenSaverIsSecure": secure,
                                        "ScreenSaveTimeOut": timeout, "SCRNSAVE.EXE": "C:\\Windows\\system32\\scrnsave.scr"})]
    if policy:
        keys.append(("Software\\Policies\\Microsoft\\Windows\\Control Panel\\Desktop", policy))
    return keys


def user_apps(*apps):
    return [(f"Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{k}", v) for k, v in apps]


def bitlocker_volume(letter, guid, protection, conversion, percent, protectors, lock=0,
                     cached_protection=1, method=7):
    ids = [f"{{{guid[:8]}-0000-4000-8000-{i:012d}}}" for i in range(len(protectors))]
    return {
        "DeviceID": f"\\\\?\\Volume{{{guid}}}\\", "DriveLetter": letter, "VolumeType": 0 if letter == "C:" else 1,
        "PersistentVolumeID": f"{{{guid}}}", "ProtectionStatus": cached_protection, "ConversionStatus": conversion,
        "EncryptionMethod": method, "IsVolumeInitializedForProtection": True,
        "methods": {
            "GetProtectionStatus": {"ReturnValue": 0, "ProtectionStatus": protection},
            "GetConversionStatus": {"ReturnValue": 0, "ConversionStatus": conversion, "EncryptionPercentage": percent,
                                    "EncryptionFlags": 0, "WipingStatus": 0, "WipingPercentage": 0},
            "GetEncryptionMethod": {"ReturnValue": 0, "EncryptionMethod": method, "SelfEncryptionDriveEncryptionMethod": ""},
            "GetKeyProtectors": {"ReturnValue": 0, "VolumeKeyProtectorID": ids},
            "GetKeyProtectorType": {i: {"ReturnValue": 0, "KeyProtectorType": t} for i, t in zip(ids, protectors)},
            "GetLockStatus": {"ReturnValue": 0, "LockStatus": lock},
        },
    }


def volumes(*vols):
    return {"instances": [
        {"DeviceID": f"\\\\?\\Volume{{{guid}}}\\", "DriveLetter": letter, "DriveType": 3, "FileSystem": fs,
         "Label": label, "Name": f"{letter}\\" if letter else f"\\\\?\\Volume{{{guid}}}\\",
         "Capacity": cap, "FreeSpace": cap // 3, "BootVolume": letter == "C:", "SystemVolume": letter is None}
        for letter, guid, fs, label, cap in vols]}


def wua(updates=(), last_search="2026-11-24T09:00:00Z", level=4, reboot=False):
    return {
        "criteria": "IsInstalled=0 and Type='Software' and IsHidden=0", "online": False,
        "include_potentially_superseded_updates": False, "result_code": 2, "hresult": 0,
        "updates": list(updates), "last_search_success_date": last_search,
        "last_installation_success_date": "2026-11-19T03:10:00Z",
        "notification_level": level, "reboot_required": reboot,
    }


def update(uid, title, kb, classification, severity):
    return {"update_id": uid, "revision_number": 200, "title": title, "kb_article_ids": [kb],
            "msrc_severity": severity, "is_downloaded": True, "is_mandatory": False, "reboot_behavior": 1,
            "last_deployment_change_time": "2026-11-11T00:00:00Z",
            "categories": [{"category_id": classification, "type": "UpdateClassification", "name": "Security Updates"},
                           {"category_id": "72E7624A-5B00-45D2-B92F-E561C6EA1D1E", "type": "Product", "name": "Windows 11"}]}


def defender(mode="Normal", age=0, realtime=True, last="2026-11-25T06:02:11Z"):
    return {"instances": [{"AMServiceEnabled": True, "AntivirusEnabled": True, "RealTimeProtectionEnabled": realtime,
                           "AMRunningMode": mode, "AntivirusSignatureAge": age, "AntivirusSignatureLastUpdated": last,
                           "AMProductVersion": "4.18.24090.11", "IsTamperProtected": True}]}


def modals(min_len, max_age_days, threshold, duration=900, window=900, history=24):
    return {"level0": {"min_passwd_len": min_len,
                       "max_passwd_age": 4294967295 if max_age_days is None else max_age_days * 86400,
                       "min_passwd_age": 86400, "password_hist_len": history, "force_logoff": 4294967295},
            "level3": {"lockout_duration": duration, "lockout_observation_window": window, "lockout_threshold": threshold}}


def group(sid, name, members):
    return {"group_sid": sid, "group_name": name,
            "members": [{"sid": s, "name": n, "sid_usage": u} for s, n, u in members]}


def profiles_of(users):
    return [(f"{MACHINE_SID}-{rid}", name) for name, rid, _ in users if rid >= 1000]


def builtin_users(admin_enabled=False, guest_enabled=False):
    return [
        ("Administrator", 500, ACB_NORMAL | ACB_PWNOEXP | (0 if admin_enabled else ACB_DISABLED)),
        ("Guest", 501, ACB_NORMAL | ACB_PWNOEXP | ACB_PWNOTREQ | (0 if guest_enabled else ACB_DISABLED)),
        ("DefaultAccount", 503, ACB_NORMAL | ACB_PWNOEXP | ACB_PWNOTREQ | ACB_DISABLED),
        ("WDAGUtilityAccount", 504, ACB_NORMAL | ACB_DISABLED),
    ]


def netuserenum(users):
    flags = lambda acb: (0x2 if acb & ACB_DISABLED else 0) | (0x20 if acb & ACB_PWNOTREQ else 0) | \
        (0x10000 if acb & ACB_PWNOEXP else 0) | 0x201
    return {"users": [{"name": n, "rid": r, "flags": flags(a)} for n, r, a in users]}


POLICY_GOOD = dict(min_len=14, history=24, max_age_days=90, min_age_days=1, lockout_threshold=5,
                   lockout_minutes=15, window_minutes=15, complexity=True)
POLICY_WEAK = dict(min_len=0, history=0, max_age_days=None, min_age_days=0, lockout_threshold=0,
                   lockout_minutes=30, window_minutes=30, complexity=False)

LAPS_CSP = "Microsoft\\Policies\\LAPS"
AU_POLICY = "Policies\\Microsoft\\Windows\\WindowsUpdate\\AU"
POLICIES_SYSTEM = "Microsoft\\Windows\\CurrentVersion\\Policies\\System"
DEFENDER = "Microsoft\\Windows Defender"

SSHD_CONFIG = """# This is the sshd server system-wide configuration file.
Port 22
PubkeyAuthentication yes
PasswordAuthentication no
Subsystem sftp sftp-server.exe

Match Group administrators
       AuthorizedKeysFile __PROGRAMDATA__/ssh/administrators_authorized_keys
       PasswordAuthentication yes
"""


def win11_enterprise():
    users = builtin_users()
    return {
        "name": "win11-24h2-enterprise",
        "captured_on": {"build": "26100.4460", "edition": "Enterprise",
                        "note": "recorded by hand in the layout of catalogue part 4.1 for this fixture"},
        "hives": {
            "SYSTEM": system_hive("LT-ADELE-0142", "WinNT", services(), extra=[
                ("ControlSet001\\Control\\CloudDomainJoin\\JoinInfo\\5C3A8E1F27B04D6A9E21C4B7F08D3A61",
                 {"TenantId": "8f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b", "UserEmail": "adele.vance@contoso.example"}),
            ]),
            "SOFTWARE": software_identity_hive(26100, 4460, "Enterprise", "24H2", "Client", users, extra=[
                (LAPS_CSP, {"BackupDirectory": 1, "PasswordAgeDays": 30, "PasswordComplexity": 4}),
                (POLICIES_SYSTEM, {"EnableLUA": 1, "ConsentPromptBehaviorAdmin": 2, "PromptOnSecureDesktop": 1, "InactivityTimeoutSecs": 600}),
                (f"{DEFENDER}\\Signature Updates", {"SignaturesLastUpdated": ("binary", struct.pack("<Q", filetime("2026-11-25T06:02:11Z")))}),
                (f"Policies\\Microsoft\\FVE", {"OSRequireActiveDirectoryBackup": 1, "OSActiveDirectoryBackup": 1}),
            ], profiles=[(ENTRA_USER_SID, "adele.vance")], apps=COMMON_APPS),
            "SAM": sam_keys(users, POLICY_GOOD, [f"{MACHINE_SID}-500", "S-1-12-1-2200000001-1300000001-2500000001-3900000001"], []),
            "SECURITY": security_hive(domain=False),
            "NTUSER.adele.vance": desktop("1", "1", "600") + user_apps(
                ("Spotify", {"DisplayName": "Spotify", "DisplayVersion": "1.2.52.442", "Publisher": "Spotify AB"})),
        },
        "captures": {
            "win.api.system_drive": {"SystemDrive": "C:"},
            "win.wmi.encryptable_volumes": {"instances": [
                bitlocker_volume("C:", "0b1e6c3a-0000-4000-8000-00000000000c", 1, 1, 100, [4, 3])]},
            "win.wmi.volumes": volumes(("C:", "0b1e6c3a-0000-4000-8000-00000000000c", "NTFS", "Windows", 511_000_000_000),
                                       (None, "0b1e6c3a-0000-4000-8000-0000000000e5", "FAT32", "SYSTEM", 272_629_760)),
            "win.wua.snapshot": wua(),
            "win.api.netusermodals": modals(14, 90, 5),
            "win.api.netuserenum": netuserenum(users),
            "win.api.localgroup_admins": group("S-1-5-32-544", "Administrators", [
                (f"{MACHINE_SID}-500", "LT-ADELE-0142\\Administrator", 1),
                ("S-1-12-1-2200000001-1300000001-2500000001-3900000001", None, 1)]),
            "win.api.localgroup_remote_desktop": group("S-1-5-32-555", "Remote Desktop Users", []),
            "win.api.auditpolicy": {"subcategories": [{"guid": "0CCE9215-69AE-11D9-BED3-505054503030", "auditing_information": 3}]},
            "win.api.firewall_profiles": {"profiles": [{"profile": "Domain", "type": 1, "enabled": True},
                                                       {"profile": "Private", "type": 2, "enabled": True},
                                                       {"profile": "Public", "type": 4, "enabled": True}],
                                          "current_profile_types": 2},
            "win.wsc.products": {"antivirus": [{"name": "Microsoft Defender Antivirus", "product_state": 0, "signature_status": 1}],
                                 "firewall": []},
            "win.wmi.defender_status": defender(),
            "win.wmi.optionalfeature_smb1": {"instances": [{"Name": "SMB1Protocol", "InstallState": 2}]},
            "win.api.smbios_rsmb": {"base64": smbios("Dell Inc.", "1.14.0", "Dell Inc.", "Latitude 7450", "1.0", "7FQ2M34")},
            "win.api.firmware_type": {"FirmwareType": 2},
            "win.api.join_information": {"name": "WORKGROUP", "status": 2},
            "win.wmi.deviceguard": {"instances": [{"SecurityServicesRunning": [1, 2], "VirtualizationBasedSecurityStatus": 2}]},
            "win.wmi.tpm": {"instances": [{"IsEnabled_InitialValue": True, "IsActivated_InitialValue": True,
                                           "SpecVersion": "2.0, 0, 1.59", "ManufacturerIdTxt": "IFX"}]},
        },
    }


def software_identity_hive(build, ubr, edition, display, installation, users, extra=(), profiles=None,
                           apps=(), winlogon=None):
    profs = profiles if profiles is not None else profiles_of(users)
    return software_hive(software_identity(build, ubr, edition, display, installation), extra=extra,
                         profiles=profs, apps=apps, winlogon=winlogon)


def security_hive(domain, default_password_secret=False):
    keys = [("Policy", {}),
            ("Policy\\PolPrDmS", {"": ("binary", sid_bytes(DOMAIN_SID) if domain else b"")}),
            ("Policy\\PolAcDmS", {"": ("binary", sid_bytes(MACHINE_SID))}),
            ("Policy\\Secrets", {})]
    if default_password_secret:
        # Presence only: the secret's value keys hold nothing readable here.
        keys.append(("Policy\\Secrets\\DefaultPassword", {}))
        keys.append(("Policy\\Secrets\\DefaultPassword\\CurrVal", {"": ("type", 0, b"")}))
    return keys


def win11_suspended():
    users = builtin_users() + [("helpdesk", 1001, ACB_NORMAL)]
    return {
        "name": "win11-suspended",
        "captured_on": {"build": "26100.4349", "edition": "Enterprise",
                        "note": "recorded by hand in the layout of catalogue part 4.1 for this fixture"},
        "hives": {
            "SYSTEM": system_hive("WS-FIN-0388", "WinNT", services(CSFalconService={"Start": 2, "ImagePath": "\"C:\\Program Files\\CrowdStrike\\CSFalconService.exe\""},
                                           sshd={"Start": 2, "ImagePath": "C:\\Windows\\System32\\OpenSSH\\sshd.exe"}),
                                  domain="corp.contoso.example", manufacturer="LENOVO", model="21KCS0JP00", bios="N3TET44W (1.23 )"),
            "SOFTWARE": software_identity_hive(26100, 4349, "Enterprise", "24H2", "Client", users, extra=[
                ("Policies\\Microsoft Services\\AdmPwd", {"AdmPwdEnabled": 1}),
                (POLICIES_SYSTEM, {"EnableLUA": 1, "ConsentPromptBehaviorAdmin": 5, "PromptOnSecureDesktop": 1, "InactivityTimeoutSecs": 900}),
                (AU_POLICY, {"NoAutoUpdate": 0, "AUOptions": 4}),
                (f"{DEFENDER}", {"PassiveMode": 1}),
            ], apps=COMMON_APPS + [
                (f"{UNINSTALL}\\{{E3B1E8F4-26B6-4D32-9C8B-1C2B9B4A1C11}}", {"DisplayName": "CrowdStrike Windows Sensor", "DisplayVersion": "7.19.18913.0", "Publisher": "CrowdStrike, Inc."})]),
            "SAM": sam_keys(users, POLICY_GOOD, [f"{MACHINE_SID}-500", f"{DOMAIN_SID}-512", f"{MACHINE_SID}-1001"],
                            [f"{DOMAIN_SID}-1107"]),
            "SECURITY": security_hive(domain=True),
            "NTUSER.helpdesk": desktop("1", "1", "900"),
        },
        "files": {"ProgramData/ssh/sshd_config": SSHD_CONFIG},
        "captures": {
            "win.api.system_drive": {"SystemDrive": "C:"},
            # Fully encrypted, protection suspended: the cached property still says 1.
            "win.wmi.encryptable_volumes": {"instances": [
                bitlocker_volume("C:", "4d2a91c7-0000-4000-8000-00000000000c", 0, 1, 100, [1, 3], cached_protection=1)]},
            "win.wmi.volumes": volumes(("C:", "4d2a91c7-0000-4000-8000-00000000000c", "NTFS", "OS", 1_022_000_000_000)),
            "win.wua.snapshot": wua(updates=[
                update("8a0d3b5c-1f2e-4a6b-9c7d-0e1f2a3b4c5d", "2026-11 Cumulative Update for Windows 11 Version 24H2 for x64-based Systems (KB5046617)",
                       "5046617", SECURITY_UPDATES, "Critical"),
                update("1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b", "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 (Version 1.421.1208.0)",
                       "2267602", DEFINITION_UPDATES, "")], reboot=False),
            "win.api.netusermodals": modals(14, 90, 5),
            "win.api.netuserenum": netuserenum(users),
            "win.api.localgroup_admins": group("S-1-5-32-544", "Administrators", [
                (f"{MACHINE_SID}-500", "WS-FIN-0388\\Administrator", 1),
                (f"{DOMAIN_SID}-512", "CORP\\Domain Admins", 2),
                (f"{MACHINE_SID}-1001", "WS-FIN-0388\\helpdesk", 1)]),
            "win.api.localgroup_remote_desktop": group("S-1-5-32-555", "Remote Desktop Users", [(f"{DOMAIN_SID}-1107", None, 1)]),
            "win.api.auditpolicy": {"subcategories": [{"guid": "0CCE9215-69AE-11D9-BED3-505054503030", "auditing_information": 3}]},
            "win.api.firewall_profiles": {"profiles": [{"profile": "Domain", "type": 1, "enabled": True},
                                                       {"profile": "Private", "type": 2, "enabled": True},
                                                       {"profile": "Public", "type": 4, "enabled": True}],
                                          "current_profile_types": 1},
            "win.wsc.products": {"antivirus": [{"name": "CrowdStrike Falcon Sensor", "product_state": 0, "signature_status": 0},
                                               {"name": "Microsoft Defender Antivirus", "product_state": 1, "signature_status": 1}],
                                 "firewall": []},
            "win.wmi.defender_status": defender(mode="Passive Mode", realtime=False),
            "win.wmi.optionalfeature_smb1": {"instances": [{"Name": "SMB1Protocol", "InstallState": 2}]},
            "win.api.smbios_rsmb": {"base64": smbios("LENOVO", "N3TET44W (1.23 )", "LENOVO", "21KCS0JP00", "ThinkPad T14 Gen 5", "PF4X9ZQ1")},
            "win.api.firmware_type": {"FirmwareType": 2},
            "win.api.join_information": {"name": "CORP", "status": 3},
            "win.wmi.deviceguard": {"instances": [{"SecurityServicesRunning": [0], "VirtualizationBasedSecurityStatus": 1}]},
            "win.wmi.tpm": {"instances": [{"IsEnabled_InitialValue": True, "IsActivated_InitialValue": True,
                                           "SpecVersion": "2.0, 0, 1.59", "ManufacturerIdTxt": "STM"}]},
        },
    }


def win10(name, esu):
    users = builtin_users() + [("alice", 1001, ACB_NORMAL), ("bob", 1002, ACB_NORMAL)]
    licences = [{"Name": "Windows(R), Client-ESU-Year2 add-on for Education,Enterprise,IoTEnterprise,Professional",
                 "Description": "Windows(R) Operating System, VOLUME_MAK channel", "LicenseStatus": 1,
                 "ID": "4b1571d3-bafb-4b40-8087-a961be2caf65"}] if esu else []
    licences.append({"Name": "Windows(R), Professional edition", "Description": "Windows(R) Operating System, OEM_DM channel",
                     "LicenseStatus": 1, "ID": "2de67392-b7a7-462a-b1ca-108dd189f588"})
    return {
        "name": name,
        "captured_on": {"build": "19045.6456", "edition": "Professional",
                        "note": "recorded by hand in the layout of catalogue part 4.1 for this fixture"},
        "hives": {
            "SYSTEM": system_hive("DESK-RECEPTION" if esu else "DESK-WAREHOUSE", "WinNT", services(), manufacturer="HP",
                                  domain="corp.contoso.example" if esu else "",
                                  model="HP EliteDesk 800 G6 Desktop Mini PC", bios="S21 Ver. 02.18.00"),
            "SOFTWARE": software_identity_hive(19045, 6456, "Professional", "22H2", "Client", users, extra=[
                (POLICIES_SYSTEM, {"EnableLUA": 1, "ConsentPromptBehaviorAdmin": 5, "PromptOnSecureDesktop": 1}),
                (AU_POLICY, {"NoAutoUpdate": 0, "AUOptions": 3}) if not esu else (AU_POLICY, {"NoAutoUpdate": 0, "AUOptions": 4}),
            ], apps=COMMON_APPS),
            "SAM": sam_keys(users, POLICY_GOOD, [f"{MACHINE_SID}-500", f"{MACHINE_SID}-1001"], [f"{MACHINE_SID}-1002"]),
            "SECURITY": security_hive(domain=esu),
            "NTUSER.alice": desktop("1", "1", "600"),
            "NTUSER.bob": desktop("1", "1", "600") if esu else desktop("0", "0", "600"),
        },
        "captures": {
            "win.api.system_drive": {"SystemDrive": "C:"},
            "win.wmi.encryptable_volumes": {"instances": [
                bitlocker_volume("C:", "77aa0e31-0000-4000-8000-00000000000c", 1, 1, 100, [1] if esu else [1, 3])]},
            "win.wmi.volumes": volumes(("C:", "77aa0e31-0000-4000-8000-00000000000c", "NTFS", "", 255_000_000_000)),
            "win.wua.snapshot": wua(level=4 if esu else 3,
                                    last_search="2026-11-24T09:00:00Z" if esu else "2026-10-02T17:41:09Z"),
            "win.wmi.licensing_esu": {"instances": licences},
            "win.api.netusermodals": modals(14, 90, 5) if esu else Err("0x00000005 access denied"),
            "win.api.netuserenum": netuserenum(users) if esu else Err("0x00000005 access denied"),
            "win.api.localgroup_admins": group("S-1-5-32-544", "Administratoren", [
                (f"{MACHINE_SID}-500", "DESK\\Administrator", 1), (f"{MACHINE_SID}-1001", "DESK\\alice", 1)]),
            "win.api.localgroup_remote_desktop": group("S-1-5-32-555", "Remotedesktopbenutzer", [(f"{MACHINE_SID}-1002", "DESK\\bob", 1)]),
            "win.api.auditpolicy": {"subcategories": [{"guid": "0CCE9215-69AE-11D9-BED3-505054503030", "auditing_information": 1}]},
            "win.api.firewall_profiles": {"profiles": [{"profile": "Domain", "type": 1, "enabled": True},
                                                       {"profile": "Private", "type": 2, "enabled": True},
                                                       {"profile": "Public", "type": 4, "enabled": esu}],
                                          "current_profile_types": 2},
            "win.wsc.products": {"antivirus": [{"name": "Windows Defender", "product_state": 0, "signature_status": 1}],
                                 "firewall": []},
            "win.wmi.defender_status": defender(),
            "win.wmi.optionalfeature_smb1": {"instances": [{"Name": "SMB1Protocol", "InstallState": 2}]},
            "win.api.smbios_rsmb": {"base64": smbios("HP", "S21 Ver. 02.18.00", "HP", "HP EliteDesk 800 G6 Desktop Mini PC", "", "8CC0451XYZ")},
            "win.api.firmware_type": {"FirmwareType": 2},
            "win.api.join_information": {"name": "CORP", "status": 3} if esu else {"name": "WORKGROUP", "status": 2},
            "win.wmi.deviceguard": Err("0x8004100E invalid namespace"),
            "win.wmi.tpm": {"instances": [{"IsEnabled_InitialValue": True, "IsActivated_InitialValue": True,
                                           "SpecVersion": "2.0, 0, 1.38", "ManufacturerIdTxt": "INTC"}]},
        },
    }


def server2019():
    users = builtin_users(admin_enabled=True)
    return {
        "name": "server2019-core",
        "captured_on": {"build": "17763.6532", "edition": "ServerStandard",
                        "note": "recorded by hand in the layout of catalogue part 4.1 for this fixture"},
        "hives": {
            "SYSTEM": system_hive("SRV-FILE-02", "ServerNT", services(
                W32Time__Parameters={"Type": "NT5DS"}, W32Time={"Start": 2},
                mrxsmb10=None), domain="corp.contoso.example", manufacturer="VMware, Inc.",
                model="VMware7,1", bios="VMW71.00V.21100432.B64.2301110304", smb1_server=0),
            "SOFTWARE": software_identity_hive(17763, 6532, "ServerStandard", None, "Server Core", users, extra=[
                (POLICIES_SYSTEM, {"EnableLUA": 1, "ConsentPromptBehaviorAdmin": 5}),
                ("Policies\\Microsoft\\Windows\\WindowsFirewall\\DomainProfile", {"EnableFirewall": 1}),
            ], apps=[(f"{UNINSTALL}\\VMware Tools", {"DisplayName": "VMware Tools", "DisplayVersion": "12.4.5.23787635"})]),
            "SAM": sam_keys(users, POLICY_GOOD, [f"{MACHINE_SID}-500", f"{DOMAIN_SID}-512"], []),
            "SECURITY": security_hive(domain=True),
        },
        "captures": {
            "win.api.system_drive": {"SystemDrive": "C:"},
            "win.wmi.encryptable_volumes": Err("0x8004100E invalid namespace"),
            "win.wmi.volumes": volumes(("C:", "9c3e55d0-0000-4000-8000-00000000000c", "NTFS", "", 64_000_000_000)),
            "win.wua.snapshot": wua(level=0),
            "win.api.netusermodals": modals(14, 90, 5),
            "win.api.netuserenum": netuserenum(users),
            "win.api.localgroup_admins": group("S-1-5-32-544", "Administrators", [
                (f"{MACHINE_SID}-500", "SRV-FILE-02\\Administrator", 1), (f"{DOMAIN_SID}-512", "CORP\\Domain Admins", 2)]),
            "win.api.localgroup_remote_desktop": group("S-1-5-32-555", "Remote Desktop Users", []),
            "win.api.auditpolicy": {"subcategories": [{"guid": "0CCE9215-69AE-11D9-BED3-505054503030", "auditing_information": 3}]},
            "win.api.firewall_profiles": {"profiles": [{"profile": "Domain", "type": 1, "enabled": True},
                                                       {"profile": "Private", "type": 2, "enabled": True},
                                                       {"profile": "Public", "type": 4, "enabled": True}],
                                          "current_profile_types": 1},
            "win.wsc.products": Err("0x80040154 class not registered"),
            "win.wmi.defender_status": defender(),
            "win.wmi.optionalfeature_smb1": {"instances": [{"Name": "SMB1Protocol", "InstallState": 3}]},
            "win.api.smbios_rsmb": {"base64": smbios("VMware, Inc.", "VMW71.00V.21100432.B64.2301110304", "VMware, Inc.", "VMware7,1", "None", "VMware-56 4d 0e 1a")},
            "win.api.firmware_type": {"FirmwareType": 2},
            "win.api.join_information": {"name": "CORP", "status": 3},
        },
    }


def workgroup_weak():
    users = builtin_users(admin_enabled=True, guest_enabled=True) + [
        ("kiosk", 1001, ACB_NORMAL | ACB_PWNOTREQ | ACB_PWNOEXP), ("owner", 1002, ACB_NORMAL)]
    return {
        "name": "win11-workgroup-weak",
        "hives": {
            "SYSTEM": system_hive("SHOP-PC", "WinNT", services(
                mrxsmb10={"Start": 2}, W32Time__Parameters={"Type": "NoSync"},
                sshd={"Start": 2, "ImagePath": "C:\\Windows\\System32\\OpenSSH\\sshd.exe"}), smb1_server=1,
                manufacturer="Micro-Star International Co., Ltd.", model="MS-7D75", bios="1.A0", secure_boot=0),
            "SOFTWARE": software_identity_hive(22631, 4602, "Professional", "23H2", "Client", users, extra=[
                (POLICIES_SYSTEM, {"EnableLUA": 0, "ConsentPromptBehaviorAdmin": 0, "PromptOnSecureDesktop": 0}),
                (AU_POLICY, {"NoAutoUpdate": 1}),
                ("Policies\\Microsoft\\WindowsFirewall\\PublicProfile", {"EnableFirewall": 0}),
            ], winlogon={"AutoAdminLogon": "1", "DefaultUserName": "kiosk", "DefaultDomainName": "SHOP-PC",
                         "DefaultPassword": "Winter2026!kiosk", "Shell": "explorer.exe"},
                apps=COMMON_APPS),
            "SAM": sam_keys(users, POLICY_WEAK, [f"{MACHINE_SID}-500", f"{MACHINE_SID}-1002"], [f"{MACHINE_SID}-1001"]),
            "SECURITY": security_hive(domain=False, default_password_secret=True),
            "NTUSER.kiosk": desktop("0", "0", "0"),
            "NTUSER.owner": desktop("1", "0", "1800"),
        },
        "files": {"ProgramData/ssh/sshd_config": "Port 22\nPasswordAuthentication yes\n"},
    }


def dirty_hive():
    # A variant of win11-24h2-enterprise: the base's hives, with a change to
    # SOFTWARE that is only in SOFTWARE.LOG1 (UAC turned off after the last flush).
    return {
        "name": "win11-dirty-hive",
        "hives": {},
        "log1": {"SOFTWARE": [(POLICIES_SYSTEM, {"EnableLUA": 0}),
                              ("Microsoft\\Windows NT\\CurrentVersion", {"UBR": 4652})]},
    }


def main():
    for spec in (win11_enterprise(), win11_suspended(), win10("win10-22h2-esu", True),
                 win10("win10-22h2-noesu", False), server2019(), workgroup_weak()):
        host(spec)
    d = dirty_hive()
    root = HOSTS / d["name"]
    if (root / "hives").exists():
        shutil.rmtree(root / "hives")
    (root / "hives").mkdir(parents=True)
    for hive, keys in d["log1"].items():
        (root / "hives" / f"{hive}.LOG1.reg").write_text(reg_text(keys, hive_prefix(hive)))


if __name__ == "__main__":
    main()
