#!/usr/bin/env python3
"""Writes the macOS host fixtures under tests/fixtures/hosts/ (see its README).

Reproducible: every salt, password, UUID and date is fixed here, so running it
again gives the same bytes (binary plists included). It writes the host files and
`_captures/` only; each host's `expected.json` is written by hand and never touched.

    python3 scripts/make-mac-fixtures.py            # from the repository root

The password hashes are throwaway: PBKDF2-HMAC-SHA512 of passwords derived from
fixed seeds below, in the layout macOS keeps in a user record's ShadowHashData.
"""

import base64
import datetime as dt
import hashlib
import json
import os
import plistlib
import shutil
import struct
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOSTS = REPO / "tests" / "fixtures" / "hosts"
CAPTURED_AT = "2026-11-25T11:58:02Z"

# The source table (agent/src/host/sources.rs): id -> argv or api name.
COMMANDS = {
    "macos.fdesetup.status": ["/usr/bin/fdesetup", "status"],
    "macos.fdesetup.haspersonalrecoverykey": ["/usr/bin/fdesetup", "haspersonalrecoverykey"],
    "macos.diskutil.apfs.list": ["/usr/sbin/diskutil", "apfs", "list", "-plist"],
    "macos.diskutil.info.data": ["/usr/sbin/diskutil", "info", "-plist", "/System/Volumes/Data"],
    "macos.diskutil.info.disk0": ["/usr/sbin/diskutil", "info", "-plist", "disk0"],
    "macos.softwareupdate.list.noscan": ["/usr/sbin/softwareupdate", "--list", "--no-scan"],
    "macos.pwpolicy.accountpolicies": ["/usr/bin/pwpolicy", "-getaccountpolicies"],
    "macos.socketfilterfw.state": [
        "/usr/libexec/ApplicationFirewall/socketfilterfw",
        "--getglobalstate",
        "--getblockall",
        "--getstealthmode",
    ],
    "macos.spctl.status": ["/usr/sbin/spctl", "--status"],
    "macos.csrutil.status": ["/usr/bin/csrutil", "status"],
    "macos.csrutil.authroot": ["/usr/bin/csrutil", "authenticated-root", "status"],
    "macos.systemsetup.networktime": ["/usr/sbin/systemsetup", "-getusingnetworktime"],
    "macos.launchctl.auditd": ["/bin/launchctl", "print", "system/com.apple.auditd"],
    "macos.system_profiler.ibridge": ["/usr/sbin/system_profiler", "SPiBridgeDataType", "-json"],
    "macos.xprotect.status": ["/usr/bin/xprotect", "status"],
    "macos.pmset.custom": ["/usr/bin/pmset", "-g", "custom"],
    "macos.ioreg.platform": ["/usr/sbin/ioreg", "-a", "-rd1", "-c", "IOPlatformExpertDevice"],
    "macos.profiles.configuration": [
        "/usr/bin/profiles", "show", "-type", "configuration", "-output", "stdout-xml"],
}
APIS = {"macos.sysctl.swapusage": "sysctl vm.swapusage"}
# Per-user and later additions to the source table (listed in manifest.json like the rest).
PENDING_COMMANDS = {
    "macos.sysadminctl.screenlock": ["/usr/sbin/sysadminctl", "-screenLock", "status"],
    "macos.launchctl.print_disabled": ["/bin/launchctl", "print-disabled", "system"],
}
PENDING_APIS = {
    "macos.sysctl.hardware":
        "sysctl kern.osrelease kern.version machdep.cpu.brand_string hw.memsize hw.ncpu",
}


def utc(s):
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")


def seeded(label, n):
    """n bytes derived from a label (fixed across runs)."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"attest-fixture:{label}:{i}".encode()).digest()
        i += 1
    return out[:n]


def uuid_of(label):
    h = seeded("uuid:" + label, 16).hex().upper()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


# ---------------------------------------------------------------------------
# writing


class Host:
    def __init__(self, name, variant=False):
        self.name = name
        self.root = HOSTS / name
        self.variant = variant
        self.sources = {}
        self.pending = {}
        if self.root.exists():
            for child in self.root.iterdir():
                if child.name == "expected.json":
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        self.root.mkdir(parents=True, exist_ok=True)
        if not variant:
            for name_, target in (("etc", "private/etc"), ("var", "private/var"), ("tmp", "private/tmp")):
                os.symlink(target, self.root / name_)
            for d in ("private/etc", "private/var", "private/tmp"):
                (self.root / d).mkdir(parents=True, exist_ok=True)

    def path(self, p):
        full = self.root / p.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        return full

    def write(self, p, data, mode=None):
        full = self.path(p)
        full.write_bytes(data if isinstance(data, bytes) else data.encode())
        if mode is not None:
            os.chmod(full, mode)

    def plist(self, p, obj, binary=True):
        fmt = plistlib.FMT_BINARY if binary else plistlib.FMT_XML
        self.write(p, plistlib.dumps(obj, fmt=fmt, sort_keys=True))

    # captures
    def cap(self, sid, stdout="", stderr="", exit_code=0, pending=False, key=None):
        argv = (PENDING_COMMANDS if pending else COMMANDS)[key or sid]
        self.write(f"_captures/{sid}.stdout", stdout)
        if stderr or sid in ("macos.softwareupdate.list.noscan", "macos.spctl.status") or pending:
            self.write(f"_captures/{sid}.stderr", stderr)
        entry = {"kind": "command", "argv": argv, "exit_code": exit_code}
        (self.pending if pending else self.sources)[sid] = entry

    def cap_error(self, sid, error):
        entry = {"kind": "command", "argv": COMMANDS[sid], "status": "error", "error": error}
        self.sources[sid] = entry

    def api(self, sid, value, pending=False):
        name = (PENDING_APIS if pending else APIS)[sid]
        self.write(f"_captures/{sid}.json", json.dumps(value, indent=2) + "\n")
        entry = {"kind": "api"}
        if name is not None:
            entry["name"] = name
        (self.pending if pending else self.sources)[sid] = entry

    def manifest(self, captured_on):
        base = {"schema": "attest.captures/v1", "os": "macos", "captured_at": CAPTURED_AT,
                "captured_on": captured_on}
        sources = dict(self.sources, **self.pending)
        self.write("_captures/manifest.json",
                   json.dumps(dict(base, sources=dict(sorted(sources.items()))), indent=2) + "\n")


# ---------------------------------------------------------------------------
# system files


def system_version(h, version, build, path="/System/Library/CoreServices/SystemVersion.plist"):
    h.plist(path, {
        "BuildID": uuid_of("build:" + build),
        "ProductBuildVersion": build,
        "ProductCopyright": "1983-2026 Apple Inc.",
        "ProductName": "macOS",
        "ProductUserVisibleVersion": version,
        "ProductVersion": version,
        "iOSSupportVersion": {"14": "17.6", "15": "18.6", "26": "26.1", "28": "28.0"}[version.split(".")[0]],
    }, binary=False)


SSHD_CONFIG = """#\t$OpenBSD: sshd_config,v 1.104 2021/07/02 05:11:21 dtucker Exp $

# This is the sshd server system-wide configuration file.  See
# sshd_config(5) for more information.

# This sshd was compiled with PATH=/usr/bin:/bin:/usr/sbin:/sbin

# The strategy used for options in the default sshd_config shipped with
# OpenSSH is to specify options with their default value where
# possible, but leave them commented.  Uncommented options override the
# default value.

# This Include directive is not part of the default sshd_config shipped with
# OpenSSH. Options set in the included configuration files generally override
# those that follow.  The defaults only apply to options that have not been
# explicitly set.  Options that appear multiple times keep the first value set,
# unless they are a multivalue option such as HostKey.
Include /etc/ssh/sshd_config.d/*

#Port 22
#AddressFamily any
#ListenAddress 0.0.0.0
#ListenAddress ::

#HostKey /etc/ssh/ssh_host_rsa_key
#HostKey /etc/ssh/ssh_host_ecdsa_key
#HostKey /etc/ssh/ssh_host_ed25519_key

# Authentication:

#LoginGraceTime 2m
#PermitRootLogin prohibit-password
#StrictModes yes
#MaxAuthTries 6
#MaxSessions 10

#PubkeyAuthentication yes

#AuthorizedKeysFile\t.ssh/authorized_keys

# To disable tunneled clear text passwords, change to no here!
#PasswordAuthentication yes
#PermitEmptyPasswords no

# Change to no to disable s/key passwords
#KbdInteractiveAuthentication yes

#UsePAM no

#AllowAgentForwarding yes
#AllowTcpForwarding yes
#GatewayPorts no
#X11Forwarding no
#PrintMotd yes
#PrintLastLog yes
#TCPKeepAlive yes
#PermitUserEnvironment no
#Compression delayed
#ClientAliveInterval 0
#ClientAliveCountMax 3
#UseDNS no
#PidFile /var/run/sshd.pid
#MaxStartups 10:30:100
#PermitTunnel no
#ChrootDirectory none
#VersionAddendum none

# no default banner path
#Banner none

# override default of no subsystems
Subsystem\tsftp\t/usr/libexec/sftp-server

# Example of overriding settings on a per-user basis
#Match User anoncvs
#\tX11Forwarding no
#\tAllowTcpForwarding no
#\tPermitTTY no
#\tForceCommand cvs server
"""

SSHD_MACOS_CONF = """# Options set by macOS that differ from the OpenSSH defaults.
UsePAM yes
AcceptEnv LANG LC_*
Subsystem\tsftp\t/usr/libexec/sftp-server
"""

SUDOERS = """#
# Sample /etc/sudoers file.
#
# This file MUST be edited with the 'visudo' command as root.
#
# See the sudoers man page for the details on how to write a sudoers file.

##
# Override built-in defaults
##
Defaults\tenv_reset
Defaults\tenv_keep += "BLOCKSIZE"
Defaults\tenv_keep += "COLORFGBG COLORTERM"
Defaults\tenv_keep += "__CF_USER_TEXT_ENCODING"
Defaults\tenv_keep += "CHARSET LANG LANGUAGE LC_ALL LC_COLLATE LC_CTYPE"
Defaults\tenv_keep += "LC_MESSAGES LC_MONETARY LC_NUMERIC LC_TIME"
Defaults\tenv_keep += "LINES COLUMNS"
Defaults\tenv_keep += "LSCOLORS"
Defaults\tenv_keep += "SSH_AUTH_SOCK"
Defaults\tenv_keep += "TZ"
Defaults\tenv_keep += "DISPLAY XAUTHORIZATION XAUTHORITY"
Defaults\tenv_keep += "EDITOR VISUAL"
Defaults\tenv_keep += "HOME MAIL"

Defaults\tlecture_file = "/etc/sudo_lecture"

##
# User alias specification
##
# User_Alias\tFULLTIMERS = millert, mikef, dowdy

##
# Runas alias specification
##
# Runas_Alias\tOP = root, operator

##
# Host alias specification
##
# Host_Alias\tCUNETS = 128.138.0.0/255.255.0.0
# Host_Alias\tCSNETS = 128.138.243.0, 128.138.204.0/24, 128.138.242.0
# Host_Alias\tSERVERS = boulder, refuge

##
# Cmnd alias specification
##
# Cmnd_Alias\tPAGERS = /usr/bin/more, /usr/bin/pg, /usr/bin/less

##
# User specification
##

# root and users in group wheel can run anything on any machine as any user
root\t\tALL = (ALL) ALL
%admin\t\tALL = (ALL) ALL

## Read drop-in files from /private/etc/sudoers.d
## (the '#' here does not indicate a comment)
#includedir /private/etc/sudoers.d

# Samples
# %users  ALL=/sbin/mount /cdrom,/sbin/umount /cdrom
# %users  localhost=/sbin/shutdown -h now
"""

AUDIT_CONTROL = """#
# $P4: //depot/projects/trustedbsd/openbsm/etc/audit_control#8 $
#
dir:/var/audit
flags:lo,aa
minfree:5
naflags:lo,aa
policy:cnt,argv
filesz:2M
expire-after:10M
superuser-set-sflags-mask:has_authenticated,has_console_access
superuser-clear-sflags-mask:has_authenticated,has_console_access
member-set-sflags-mask:
member-clear-sflags-mask:has_authenticated
"""


def common_system(h, auditd_disabled=True):
    """What every Mac carries on its sealed system volume and in /etc."""
    h.write("/private/etc/ssh/sshd_config", SSHD_CONFIG)
    h.write("/private/etc/ssh/sshd_config.d/100-macos.conf", SSHD_MACOS_CONF)
    h.write("/private/etc/sudoers", SUDOERS, mode=0o440)
    h.path("/private/etc/sudoers.d/.keep").write_bytes(b"")
    h.write("/private/etc/security/audit_control.example", AUDIT_CONTROL)
    job = {
        "Label": "com.apple.auditd",
        "MachServices": {"com.apple.auditd": True},
        "ProgramArguments": ["/usr/sbin/auditd", "-l"],
        "EnableTransactions": True,
    }
    if auditd_disabled:
        job["Disabled"] = True
    h.plist("/System/Library/LaunchDaemons/com.apple.auditd.plist", job, binary=False)


# ---------------------------------------------------------------------------
# the local directory


def shadow_hash_data(label, password, iterations):
    """The inner binary plist of ShadowHashData, as macOS writes it."""
    salt = seeded("salt:" + label, 32)
    entropy = hashlib.pbkdf2_hmac("sha512", password, salt, iterations, 128)
    srp_salt = seeded("srp-salt:" + label, 32)
    verifier = seeded("srp-verifier:" + label, 512)
    inner = {
        "SALTED-SHA512-PBKDF2": {"entropy": entropy, "iterations": iterations, "salt": salt},
        "SRP-RFC5054-4096-SHA512-PBKDF2": {
            "iterations": iterations, "salt": srp_salt, "verifier": verifier},
    }
    return plistlib.dumps(inner, fmt=plistlib.FMT_BINARY, sort_keys=True)


def user(h, name, uid, gid=20, realname=None, shell="/bin/zsh", home=None, password=None,
         iterations=40000, hidden=False, label=None):
    """A dslocal user record; `password` None: no local password (no ShadowHashData)."""
    guid = uuid_of(f"user:{h.name}:{name}")
    rec = {
        "name": [name],
        "realname": [realname or name],
        "uid": [str(uid)],
        "gid": [str(gid)],
        "generateduid": [guid],
        "home": [home or f"/Users/{name}"],
        "shell": [shell],
        "passwd": ["********"],
        "_writers_passwd": [name],
        "_writers_hint": [name],
        "_writers_picture": [name],
        "_writers_realname": [name],
        "_writers_UserCertificate": [name],
        "hint": [""],
        "picture": ["/Library/User Pictures/Animals/Eagle.heic"],
    }
    if password is not None:
        rec["authentication_authority"] = [
            ";ShadowHash;HASHLIST:<SALTED-SHA512-PBKDF2,SRP-RFC5054-4096-SHA512-PBKDF2>",
            f";Kerberosv5;;{name}@LKDC:SHA1.{seeded('lkdc:' + h.name, 20).hex().upper()};"
            f"LKDC:SHA1.{seeded('lkdc:' + h.name, 20).hex().upper()};",
            ";SecureToken;",
        ]
        rec["ShadowHashData"] = [shadow_hash_data(label or f"{h.name}:{name}", password, iterations)]
        rec["accountPolicyData"] = [plistlib.dumps({
            "creationTime": 1762251000.123,
            "failedLoginCount": 0,
            "failedLoginTimestamp": 0,
            "passwordLastSetTime": 1762251010.456,
        }, fmt=plistlib.FMT_XML)]
    if hidden:
        rec["IsHidden"] = ["1"]
    h.plist(f"/private/var/db/dslocal/nodes/Default/users/{name}.plist", rec)
    return guid


def system_users(h):
    root = {
        "name": ["root", "BUILTIN\\Local System"],
        "realname": ["System Administrator"],
        "uid": ["0"], "gid": ["0"],
        "generateduid": ["FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000000"],
        "home": ["/var/root"], "shell": ["/bin/sh"], "passwd": ["*"],
        "RecordName": ["root"],
    }
    h.plist("/private/var/db/dslocal/nodes/Default/users/root.plist", root)
    for name, uid, real, home, guid in (
        ("daemon", "1", "System Services", "/var/root", "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000001"),
        ("nobody", "-2", "Unprivileged User", "/var/empty", "FFFFEEEE-DDDD-CCCC-BBBB-AAAAFFFFFFFE"),
        ("_softwareupdate", "200", "Software Update Service", "/var/db/softwareupdate",
         "FFFFEEEE-DDDD-CCCC-BBBB-AAAA000000C8"),
    ):
        h.plist(f"/private/var/db/dslocal/nodes/Default/users/{name}.plist", {
            "name": [name], "realname": [real], "uid": [uid], "gid": [uid if uid != "-2" else "-2"],
            "generateduid": [guid], "home": [home], "shell": ["/usr/bin/false"], "passwd": ["*"],
        })


def groups(h, admins, admin_guids=()):
    h.plist("/private/var/db/dslocal/nodes/Default/groups/admin.plist", {
        "name": ["admin"], "realname": ["Administrators"], "gid": ["80"],
        "generateduid": ["ABCDEFAB-CDEF-ABCD-EFAB-CDEF00000050"],
        "users": ["root"] + list(admins),
        "groupmembers": ["FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000000"] + list(admin_guids),
        "passwd": ["*"],
    })
    h.plist("/private/var/db/dslocal/nodes/Default/groups/wheel.plist", {
        "name": ["wheel"], "realname": ["System Group"], "gid": ["0"],
        "generateduid": ["ABCDEFAB-CDEF-ABCD-EFAB-CDEF00000000"],
        "users": ["root"], "groupmembers": ["FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000000"],
        "passwd": ["*"],
    })
    h.plist("/private/var/db/dslocal/nodes/Default/groups/staff.plist", {
        "name": ["staff"], "realname": ["Staff"], "gid": ["20"],
        "generateduid": ["ABCDEFAB-CDEF-ABCD-EFAB-CDEF00000014"],
        "users": ["root"], "nestedgroups": [], "passwd": ["*"],
    })


# ---------------------------------------------------------------------------
# preferences and other files


def software_update(h, last, recommended=(), **keys):
    d = {
        "LastAttemptBuildVersion": keys.pop("build"),
        "LastAttemptSystemVersion": keys.pop("system"),
        "LastRecommendedUpdatesAvailable": len(recommended),
        "LastUpdatesAvailable": len(recommended),
        "LastResultCode": 2,
        "LastSessionSuccessful": True,
        "RecommendedUpdates": [
            {"Display Name": n, "Display Version": v, "Identifier": k, "Product Key": k,
             "MobileSoftwareUpdate": True}
            for (n, v, k) in recommended
        ],
    }
    if last:
        d["LastSuccessfulDate"] = utc(last)
        d["LastFullSuccessfulDate"] = utc(last)
        d["LastBackgroundSuccessfulDate"] = utc(last)
    d.update(keys)
    h.plist("/Library/Preferences/com.apple.SoftwareUpdate.plist", d)


def power(h, ac_display, battery_display):
    def profile(display):
        return {"Display Sleep Timer": display, "Disk Sleep Timer": 10, "System Sleep Timer": 1,
                "Standby Enabled": 1, "TCPKeepAlivePref": 1, "Wake On LAN": 1}
    h.plist("/Library/Preferences/com.apple.PowerManagement.plist", {
        "Custom Profile": {"AC Power": profile(ac_display), "Battery Power": profile(battery_display)},
        "SystemPowerSettings": {"Update DarkWakeBG Setting": True},
    })


def pmset_output(ac, battery):
    def block(display):
        return (f" Sleep On Power Button 1\n lowpowermode         0\n standby              1\n"
                f" ttyskeepawake        1\n hibernatemode        3\n powernap             1\n"
                f" hibernatefile        /var/vm/sleepimage\n displaysleep         {display}\n"
                f" womp                 0\n networkoversleep     0\n sleep                1\n"
                f" lessbright           1\n tcpkeepalive         1\n disksleep            10\n")
    out = ""
    if battery is not None:
        out += "Battery Power:\n" + block(battery)
    return out + "AC Power:\n" + block(ac)


def preferences_plist(h, computer, local):
    h.plist("/Library/Preferences/SystemConfiguration/preferences.plist", {
        "System": {
            "System": {"ComputerName": computer, "ComputerNameEncoding": 0},
            "Network": {"HostNames": {"LocalHostName": local}},
        },
        "Sets": {},
        "NetworkServices": {},
        "CurrentSet": "/Sets/" + uuid_of("set:" + h.name),
    })


def install_history(h, items):
    h.plist("/Library/Receipts/InstallHistory.plist", [
        {"date": utc(date), "displayName": name, "displayVersion": version,
         "packageIdentifiers": list(pkgs), "processName": process}
        for (date, name, version, pkgs, process) in items
    ], binary=False)


def receipt(h, ident, version, date, process="installer"):
    h.plist(f"/private/var/db/receipts/{ident}.plist", {
        "InstallDate": utc(date),
        "InstallPrefixPath": "/",
        "InstallProcessName": process,
        "PackageFileName": f"{ident}.pkg",
        "PackageIdentifier": ident,
        "PackageVersion": version,
    })


def macho(kind):
    def thin(cputype, subtype):
        return struct.pack("<IiiIIIII", 0xFEEDFACF, cputype, subtype, 2, 0, 0, 0x00200085, 0)
    if kind == "arm64":
        return thin(0x0100000C, 0)
    if kind == "x86_64":
        return thin(0x01000007, 3)
    arm, x86 = thin(0x0100000C, 0), thin(0x01000007, 3)
    header = struct.pack(">II", 0xCAFEBABE, 2)
    # Slices at 4 KiB boundaries (align 2^12), each only its header.
    header += struct.pack(">iiIII", 0x01000007, 3, 0x1000, len(x86), 12)
    header += struct.pack(">iiIII", 0x0100000C, 0, 0x2000, len(arm), 12)
    blob = bytearray(0x2000 + len(arm))
    blob[: len(header)] = header
    blob[0x1000: 0x1000 + len(x86)] = x86
    blob[0x2000:] = arm
    return bytes(blob)


def app(h, path, ident, short, build, exe, kind, binary=False):
    h.plist(f"{path}/Contents/Info.plist", {
        "CFBundleExecutable": exe,
        "CFBundleIdentifier": ident,
        "CFBundleName": Path(path).stem,
        "CFBundlePackageType": "APPL",
        "CFBundleShortVersionString": short,
        "CFBundleVersion": build,
        "LSMinimumSystemVersion": "12.0",
    }, binary=binary)
    h.write(f"{path}/Contents/MacOS/{exe}", macho(kind), mode=0o755)


def sysext_db(h, extensions):
    h.plist("/Library/SystemExtensions/db.plist", {
        "bootUUID": uuid_of("boot:" + h.name),
        "developerMode": False,
        "extensionPolicies": [],
        "extensions": extensions,
        "version": 1,
    }, binary=False)


FALCON_EXT = {
    "additionalLaunchdPlistEntries": {},
    "bundleVersion": {"CFBundleShortVersionString": "7.30.20304", "CFBundleVersion": "20304.0"},
    "categories": ["com.apple.system_extension.endpoint_security",
                   "com.apple.system_extension.network_extension"],
    "container": {"bundlePath": "/Applications/Falcon.app", "importedPath": "/Applications/Falcon.app"},
    "identifier": "com.crowdstrike.falcon.Agent",
    "originPath": "/Applications/Falcon.app/Contents/Library/SystemExtensions/com.crowdstrike.falcon.Agent.systemextension",
    "references": [{"appIdentifier": "com.crowdstrike.falcon.App", "appRef": "file:///Applications/Falcon.app/",
                    "teamID": "X9E956P446"}],
    "stagedBundleURL": {"relative": "file:///Library/SystemExtensions/" + uuid_of("falcon-staged")
                        + "/com.crowdstrike.falcon.Agent.systemextension/"},
    "stagedCdhashes": {},
    "state": "activated_enabled",
    "teamID": "X9E956P446",
    "uniqueID": uuid_of("falcon-unique"),
}


# ---------------------------------------------------------------------------
# command outputs


def xml(obj):
    return plistlib.dumps(obj, fmt=plistlib.FMT_XML, sort_keys=True).decode()


def apfs_volume(dev, name, roles, filevault, migrating=False, encryption=True, used=20480):
    return {"APFSVolumeUUID": uuid_of("vol:" + dev + name), "CapacityInUse": used, "CapacityQuota": 0,
            "CapacityReserve": 0, "CryptoMigrationOn": migrating, "DeviceIdentifier": dev,
            "Encryption": encryption, "FileVault": filevault, "Locked": False, "Name": name,
            "Roles": list(roles)}


def apfs_container(ref, store, size, free, volumes):
    return {"APFSContainerUUID": uuid_of("container:" + ref + store), "CapacityCeiling": size,
            "CapacityFree": free, "ContainerReference": ref, "DesignatedPhysicalStore": store,
            "Fusion": False,
            "PhysicalStores": [{"DeviceIdentifier": store, "DiskUUID": uuid_of("store:" + store),
                                "Size": size}],
            "Volumes": volumes}


def apple_silicon_apfs(filevault, migrating, size=994662584320):
    """iBoot system container, main container disk3, recoveryOS container."""
    hw = not filevault  # FileVault off: the volumes are still hardware-encrypted
    return xml({"Containers": [
        apfs_container("disk1", "disk0s1", 524288000, 504295424, [
            apfs_volume("disk1s1", "iSCPreboot", ["Preboot"], False, encryption=False, used=5668864),
            apfs_volume("disk1s2", "xART", ["xART"], False, encryption=False, used=6311936),
            apfs_volume("disk1s3", "Hardware", ["Hardware"], False, encryption=False, used=3035136),
            apfs_volume("disk1s4", "Recovery", ["Recovery"], False, encryption=False, used=20480),
        ]),
        apfs_container("disk3", "disk0s2", size, size // 2, [
            apfs_volume("disk3s1", "Macintosh HD", ["System"], filevault, encryption=True,
                        used=11245707264),
            apfs_volume("disk3s2", "Preboot", ["Preboot"], False, encryption=False, used=7087546368),
            apfs_volume("disk3s3", "Recovery", ["Recovery"], False, encryption=False, used=1042591744),
            apfs_volume("disk3s4", "Update", ["Update"], False, encryption=False, used=3305472),
            apfs_volume("disk3s5", "Data", ["Data"], filevault, migrating, encryption=filevault or hw,
                        used=412907339776),
            apfs_volume("disk3s6", "VM", ["VM"], False, encryption=False, used=2147504128),
        ]),
        apfs_container("disk2", "disk0s3", 5368664064, 3462303744, [
            apfs_volume("disk2s1", "Recovery", ["Recovery"], False, encryption=False, used=1885396992),
            apfs_volume("disk2s2", "Update", ["Update"], False, encryption=False, used=1216512),
        ]),
    ]})


def intel_apfs():
    """An Intel Mac without T2: one container, nothing encrypted."""
    return xml({"Containers": [
        apfs_container("disk1", "disk0s2", 1000240963584, 611205623808, [
            apfs_volume("disk1s1", "Macintosh HD", ["System"], False, encryption=False, used=10683437056),
            apfs_volume("disk1s2", "Macintosh HD - Data", ["Data"], False, encryption=False,
                        used=367109865472),
            apfs_volume("disk1s3", "Preboot", ["Preboot"], False, encryption=False, used=2105245696),
            apfs_volume("disk1s4", "Recovery", ["Recovery"], False, encryption=False, used=1090895872),
            apfs_volume("disk1s5", "VM", ["VM"], False, encryption=False, used=4295008256),
            apfs_volume("disk1s6", "Update", ["Update"], False, encryption=False, used=2633728),
        ]),
    ]})


def data_info(dev, container, store, name, filevault, encrypted):
    return xml({
        "APFSContainerReference": container,
        "APFSPhysicalStores": [{"APFSPhysicalStore": store}],
        "APFSVolumeGroupID": uuid_of("group:" + dev),
        "BusProtocol": "Apple Fabric" if container == "disk3" else "SATA",
        "DeviceIdentifier": dev,
        "DeviceNode": "/dev/" + dev,
        "Ejectable": False,
        "Encryption": encrypted,
        "FileVault": filevault,
        "FilesystemName": "APFS",
        "FilesystemType": "apfs",
        "Internal": True,
        "MountPoint": "/System/Volumes/Data",
        "RemovableMedia": False,
        "Removable": False,
        "SolidState": True,
        "VolumeName": name,
        "WholeDisk": False,
        "Writable": True,
    })


def disk0_info(media, protocol, size):
    return xml({
        "BusProtocol": protocol,
        "Content": "GUID_partition_scheme",
        "DeviceIdentifier": "disk0",
        "DeviceNode": "/dev/disk0",
        "Ejectable": False,
        "Internal": True,
        "MediaName": media,
        "Removable": False,
        "RemovableMedia": False,
        "SolidState": True,
        "Size": size,
        "TotalSize": size,
        "WholeDisk": True,
        "Writable": True,
    })


def ioreg(model, serial, uuid):
    return xml([{
        "IOBusyInterest": "IOCommand is not serializable",
        "IOConsoleSecurityInterest": "IOCommand is not serializable",
        "IOObjectClass": "IOPlatformExpertDevice",
        "IOPlatformSerialNumber": serial,
        "IOPlatformUUID": uuid,
        "IORegistryEntryName": model,
        "IOPlatformFeatureDefaults": {},
        "compatible": (model + "\0").encode(),
        "manufacturer": b"Apple Inc.\0",
        "model": (model + "\0").encode(),
        "platform-name": b"t6040\0",
        "serial-number": serial.encode() + b"\0" * 20,
    }])


def ibridge(model, level, other_kext="No", sip="Enabled", mdm="No"):
    return json.dumps({"SPiBridgeDataType": [{
        "ibridge_boot_uuid": uuid_of("ibridge:" + model),
        "ibridge_build": "mBoot-18000.120.36",
        "ibridge_extra_boot_policies": " ",
        "ibridge_model_identifier_top": model,
        "ibridge_sb_boot_args": "Enabled" if level == "Full Security" else "Disabled",
        "ibridge_sb_ctrr": "Enabled",
        "ibridge_sb_device_mdm": mdm,
        "ibridge_sb_manual_mdm": "No",
        "ibridge_sb_other_kext": other_kext,
        "ibridge_sb_sip": sip,
        "ibridge_sb_ssv": "Enabled",
        "ibridge_secure_boot": level,
    }]}, indent=2, separators=(",", " : ")) + "\n"


PWPOLICY_DEFAULT_14 = ".{4,}+"
PWPOLICY_DEFAULT_15 = "^$|.{4,}+"


def pwpolicy(default_re, profile=None):
    content = [{
        "policyContent": f"policyAttributePassword matches '{default_re}'",
        "policyContentDescription": {
            "en": "Enter a password that is four characters or more."
            if default_re == PWPOLICY_DEFAULT_14 else
            "Enter a password that is four characters or more or leave the password field blank.",
        },
        "policyIdentifier": "com.apple.defaultpasswordpolicy.fde",
    }]
    d = {"policyCategoryPasswordContent": content}
    if profile:
        uuid = profile["uuid"]
        content.insert(0, {
            "policyContent": f"policyAttributePassword matches '.{{{profile['min']},}}'",
            "policyContentDescription": {"en": f"Contain at least {profile['min']} characters."},
            "policyIdentifier": f"ProfilePayload:{uuid}:minLength",
            "policyParameters": {"minimumLength": profile["min"]},
        })
        d["policyCategoryAuthentication"] = [{
            "policyContent": "policyAttributeFailedAuthentications < policyAttributeMaximumFailedAuthentications",
            "policyIdentifier": f"ProfilePayload:{uuid}:maxFailedAttempts",
            "policyParameters": {"policyAttributeMaximumFailedAuthentications": profile["max_failed"]},
        }, {
            "policyContent": "(policyAttributeFailedAuthentications < policyAttributeMaximumFailedAuthentications) "
                             "OR (policyAttributeCurrentTime > (policyAttributeLastFailedAuthenticationTime "
                             "+ autoEnableInSeconds))",
            "policyIdentifier": f"ProfilePayload:{uuid}:minutesUntilFailedLoginReset",
            "policyParameters": {"autoEnableInSeconds": 900,
                                 "policyAttributeMaximumFailedAuthentications": profile["max_failed"]},
        }]
        d["policyCategoryPasswordChange"] = [{
            "policyContent": "policyAttributeCurrentTime > policyAttributeLastPasswordChangeTime "
                             "+ (policyAttributeExpiresEveryNDays * 24 * 60 * 60)",
            "policyIdentifier": f"ProfilePayload:{uuid}:maxPINAgeInDays",
            "policyParameters": {"policyAttributeExpiresEveryNDays": profile["max_age"]},
        }]
    return "Getting global account policies\n" + xml(d)


def alf(state, blockall=False, stealth=False):
    first = {0: "Firewall is disabled. (State = 0)", 1: "Firewall is enabled. (State = 1)",
             2: "Firewall is enabled. (State = 2)"}[state]
    block = "Firewall has block all state set to " + ("enabled." if blockall else "disabled.")
    return f"{first}\n{block}\n{'Stealth mode enabled' if stealth else 'Stealth mode disabled'}\n"


AUDITD_RUNNING = """system/com.apple.auditd = {
\tactive count = 1
\tpath = /System/Library/LaunchDaemons/com.apple.auditd.plist
\ttype = LaunchDaemon
\tstate = running

\tprogram = /usr/sbin/auditd
\targuments = {
\t\t/usr/sbin/auditd
\t\t-l
\t}

\tdefault environment = {
\t\tPATH => /usr/bin:/bin:/usr/sbin:/sbin
\t}

\tdomain = system
\tminimum runtime = 10
\texit timeout = 5
\truns = 1
\tpid = 412
\timmediate reason = ipc (mach)
\tforks = 0
\texecs = 1
\tinitialized = 1
\ttrampolined = 1
\tstarted suspended = 0
\tproxy started suspended = 0
\tlast exit code = (never exited)
}
"""
AUDITD_MISSING = 'Could not find service "com.apple.auditd" in domain for system\n'


def print_disabled(services):
    body = "".join(f'\t"{k}" => {"disabled" if v else "enabled"}\n' for k, v in services.items())
    return f"disabled services = {{\n{body}}}\nlogin item associations = {{\n}}\n"


def screenlock_line(text, pid):
    return f"2026-11-25 11:58:0{pid % 10}.{pid % 1000:03d} sysadminctl[{pid}:{pid * 7 % 100000}] {text}\n"


def swap(total, used, encrypted=1):
    return {"xsu_total": total, "xsu_avail": total - used, "xsu_used": used, "xsu_pagesize": 16384,
            "xsu_encrypted": encrypted}


def hardware(osrelease, kversion, brand, mem, ncpu):
    return {"kern.osrelease": osrelease, "kern.version": kversion, "machdep.cpu.brand_string": brand,
            "hw.memsize": mem, "hw.ncpu": ncpu}


def profiles_xml(profiles):
    if not profiles:
        return xml({})
    return xml({"_computerlevel": profiles})


def profile(ident, name, items):
    return {"ProfileDisplayName": name, "ProfileIdentifier": ident, "ProfileInstallDate": "2025-11-05 09:14:11 +0000",
            "ProfileItems": items, "ProfileOrganization": "Example Corp", "ProfileType": "Configuration",
            "ProfileUUID": uuid_of("profile:" + ident), "ProfileVerificationState": "verified"}


def payload(ptype, ident, content):
    return {"PayloadContent": content, "PayloadDisplayName": ptype, "PayloadIdentifier": ident,
            "PayloadType": ptype, "PayloadUUID": uuid_of("payload:" + ident), "PayloadVersion": 1}


SOFTWAREUPDATE_HEADER = "Software Update Tool\n\n"


def su_list(items):
    if not items:
        return "", SOFTWAREUPDATE_HEADER + "No new software available.\n"
    out = "Software Update found the following new or updated software:\n"
    for label, title, version, size, action in items:
        out += f"* Label: {label}\n\tTitle: {title}, Version: {version}, Size: {size}, Recommended: YES, "
        out += f"Action: {action},\n" if action else "\n"
    return out, SOFTWAREUPDATE_HEADER


# ---------------------------------------------------------------------------
# the hosts


def macos26_laptop():
    h = Host("macos26-laptop")
    system_version(h, "26.1", "25B78")
    common_system(h)
    system_users(h)
    alice = user(h, "alice", 501, realname="Alice Martin", password=b"fixture:alice:" + seeded("pw:alice", 9).hex().encode(),
                 iterations=45454)
    admin = user(h, "macadmin", 502, realname="Mac Admin", password=b"fixture:macadmin:" + seeded("pw:macadmin", 9).hex().encode(),
                 iterations=45454, hidden=True, home="/private/var/macadmin")
    groups(h, ["alice", "macadmin"], [alice, admin])
    mp = "/Library/Managed Preferences"
    h.plist(f"{mp}/com.apple.MCX.plist", {"DisableGuestAccount": True, "EnableGuestAccount": False})
    h.plist(f"{mp}/com.apple.screensaver.plist", {"askForPassword": True, "askForPasswordDelay": 0,
                                                  "idleTime": 600, "loginWindowIdleTime": 600})
    h.plist(f"{mp}/com.apple.security.firewall.plist", {"EnableFirewall": True, "EnableStealthMode": True,
                                                       "BlockAllIncoming": False})
    h.plist(f"{mp}/com.apple.systempolicy.control.plist", {"EnableAssessment": True,
                                                          "AllowIdentifiedDevelopers": True})
    h.plist(f"{mp}/com.apple.loginwindow.plist", {"DisableConsoleAccess": True, "SHOWFULLNAME": False})
    h.plist("/private/var/db/softwareupdate/SoftwareUpdateDDMStatePersistence.plist", {
        "SUCorePersistedStatePolicyFields": {
            "SUCoreDDMDeclarationGlobalSettings": {
                "automaticallyDownload": 1,
                "automaticallyInstallOSUpdates": 1,
                "automaticallyInstallSystemAndSecurityUpdates": 1,
                "enableGlobalNotifications": 1,
                "enableRapidSecurityResponse": 1,
                "enableRapidSecurityResponseRollback": 0,
            },
            "Declarations": {},
        },
        "SUCorePersistedStateVersion": 1,
    })
    software_update(h, "2026-11-25T06:41:19Z", build="25B78", system="26.1",
                    AutomaticCheckEnabled=True, AutomaticDownload=True)
    h.plist("/Library/Preferences/com.apple.loginwindow.plist", {
        "lastUserName": "alice", "GuestEnabled": False, "OptimizerLastRunForSystem": 436273152,
        "OptimizerLastRunForBuild": 52838232})
    h.plist("/Library/Preferences/com.apple.timed.plist", {"TMAutomaticTimeOnlyEnabled": True,
                                                          "TMAutomaticTimeZoneEnabled": True})
    power(h, 10, 2)
    h.plist("/Library/Preferences/com.apple.commerce.plist", {"AutoUpdate": True})
    preferences_plist(h, "Alice's MacBook Pro", "Alices-MacBook-Pro")
    h.plist("/private/var/db/com.apple.xpc.launchd/disabled.plist", {
        "com.apple.auditd": False, "com.apple.ftpd": True, "com.apple.mrt.uiagent": True,
        "com.apple.screensharing": True, "com.openssh.sshd": True, "com.apple.smbd": True,
    }, binary=False)
    h.plist("/private/var/db/SystemPolicyConfiguration/SystemPolicy-prefs.plist", {"enabled": "yes"})
    h.write("/private/etc/security/audit_control", AUDIT_CONTROL)
    h.write("/private/var/db/FileVaultPRK.dat", seeded("prk:macos26-laptop", 1024), mode=0o600)
    sysext_db(h, [FALCON_EXT])
    install_history(h, [
        ("2025-11-04T17:02:11Z", "macOS 26.1", "26.1", [], "softwareupdated"),
        ("2025-11-05T09:20:33Z", "Falcon", "7.30.20304", ["com.crowdstrike.falcon.sensor"], "installer"),
        ("2026-11-18T03:12:40Z", "XProtectPayloads", "156",
         ["com.apple.pkg.XProtectPayloads_10_15.16U4410"], "softwareupdated"),
        ("2026-11-20T03:15:02Z", "XProtectPlistConfigData", "5330",
         ["com.apple.pkg.XProtectPlistConfigData_10_15.16U4412"], "softwareupdated"),
    ])
    receipt(h, "com.crowdstrike.falcon.sensor", "7.30.20304", "2025-11-05T09:20:33Z")
    receipt(h, "com.apple.pkg.XProtectPlistConfigData_10_15.16U4412", "5330", "2026-11-20T03:15:02Z",
            "softwareupdated")
    receipt(h, "org.mozilla.firefox", "145.0", "2026-11-12T10:00:00Z")
    app(h, "/Applications/Firefox.app", "org.mozilla.firefox", "145.0", "14525.11.12", "firefox", "universal")
    app(h, "/Applications/Falcon.app", "com.crowdstrike.falcon.App", "7.30.20304", "20304.0", "Falcon", "universal",
        binary=True)
    app(h, "/Users/alice/Applications/Obsidian.app", "md.obsidian", "1.9.14", "1.9.14", "Obsidian", "arm64")
    h.plist("/Users/alice/Library/Preferences/ByHost/com.apple.screensaver.%s.plist"
            % uuid_of("hw:macos26-laptop"), {"idleTime": 600, "moduleDict": {"moduleName": "Flurry"}})
    # captures
    h.cap("macos.fdesetup.status", "FileVault is On.\n")
    h.cap("macos.fdesetup.haspersonalrecoverykey", "true\n")
    h.cap("macos.diskutil.apfs.list", apple_silicon_apfs(True, False))
    h.cap("macos.diskutil.info.data", data_info("disk3s5", "disk3", "disk0s2", "Data", True, True))
    h.cap("macos.diskutil.info.disk0", disk0_info("APPLE SSD AP1024Z", "Apple Fabric", 1000555581440))
    h.api("macos.sysctl.swapusage", swap(2147483648, 1074266112))
    out, err = su_list([])
    h.cap("macos.softwareupdate.list.noscan", out, err)
    h.cap("macos.pwpolicy.accountpolicies", pwpolicy(PWPOLICY_DEFAULT_15, {
        "uuid": "2e42cfb6-c259-45c5-8660-39da3a427b55", "min": 14, "max_failed": 5, "max_age": 365}))
    h.cap("macos.socketfilterfw.state", alf(1, stealth=True))
    h.cap("macos.spctl.status", "assessments enabled\n")
    h.cap("macos.csrutil.status", "System Integrity Protection status: enabled.\n")
    h.cap("macos.csrutil.authroot", "Authenticated Root status: enabled\n")
    h.cap("macos.systemsetup.networktime", "Network Time: On\n")
    h.cap("macos.launchctl.auditd", AUDITD_RUNNING)
    h.cap("macos.system_profiler.ibridge", ibridge("Mac16,8", "Full Security", mdm="Yes"))
    h.cap("macos.xprotect.status", "XProtect launch scans: enabled\nXProtect background scans: enabled\n")
    h.cap("macos.pmset.custom", pmset_output(10, 2))
    h.cap("macos.ioreg.platform", ioreg("Mac16,8", "FX9K2LQ7WD", uuid_of("hw:macos26-laptop")))
    h.cap("macos.profiles.configuration", profiles_xml([
        profile("com.example.mdm.filevault", "FileVault", [
            payload("com.apple.MCX.FileVault2", "com.example.mdm.filevault.fv2",
                    {"Enable": "On", "Defer": True, "ShowRecoveryKey": False}),
            payload("com.apple.security.FDERecoveryKeyEscrow", "com.example.mdm.filevault.escrow",
                    {"Location": "Example Corp MDM (mdm.example.com)",
                     "EncryptCertPayloadUUID": uuid_of("escrow-cert")}),
        ]),
        profile("com.example.mdm.passcode", "Passcode", [
            payload("com.apple.mobiledevice.passwordpolicy", "com.example.mdm.passcode.policy",
                    {"minLength": 14, "maxFailedAttempts": 5, "maxPINAgeInDays": 365,
                     "minutesUntilFailedLoginReset": 15}),
        ]),
        profile("com.example.mdm.security", "Security baseline", [
            payload("com.apple.security.firewall", "com.example.mdm.security.firewall",
                    {"EnableFirewall": True, "EnableStealthMode": True, "BlockAllIncoming": False}),
            payload("com.apple.systempolicy.control", "com.example.mdm.security.gatekeeper",
                    {"EnableAssessment": True, "AllowIdentifiedDevelopers": True}),
        ]),
    ]))
    h.cap("macos.sysadminctl.screenlock.alice", "", screenlock_line("screenLock delay is immediate", 1834),
          pending=True, key="macos.sysadminctl.screenlock")
    h.cap("macos.launchctl.print_disabled", print_disabled({
        "com.apple.auditd": False, "com.apple.ftpd": True, "com.apple.mrt.uiagent": True,
        "com.apple.screensharing": True, "com.openssh.sshd": True, "com.apple.smbd": True}), pending=True)
    h.api("macos.sysctl.hardware", hardware(
        "25.1.0", "Darwin Kernel Version 25.1.0: Mon Oct 20 19:34:05 PDT 2025; "
        "root:xnu-12377.41.6~2/RELEASE_ARM64_T6041", "Apple M4 Pro", 25769803776, 14), pending=True)
    h.manifest({"model": "Mac16,8", "os": "macOS 26.1 (25B78)",
                "note": "recorded by hand in the layout of a real MacBook Pro's outputs for this fixture"})
    return h


def macos15_encrypting():
    h = Host("macos15-encrypting")
    system_version(h, "15.7.2", "24G325")
    common_system(h)
    system_users(h)
    bob = user(h, "bob", 501, realname="Bob Chen", password=b"fixture:bob:" + seeded("pw:bob", 9).hex().encode(),
               iterations=38912)
    groups(h, ["bob"], [bob])
    software_update(h, "2026-11-23T14:05:51Z", recommended=[
        ("macOS Sequoia 15.7.3", "15.7.3", "MSU_UPDATE_24G419_patch_15.7.3_minor")],
        build="24G325", system="15.7.2", AutomaticCheckEnabled=True, AutomaticDownload=True,
        AutomaticallyInstallMacOSUpdates=False)
    h.plist("/Library/Preferences/com.apple.loginwindow.plist", {"lastUserName": "bob", "GuestEnabled": False})
    power(h, 30, 15)
    h.plist("/Library/Preferences/com.apple.commerce.plist", {"AutoUpdate": True})
    preferences_plist(h, "Bob's MacBook Air", "Bobs-MacBook-Air")
    h.plist("/private/var/db/com.apple.xpc.launchd/disabled.plist", {
        "com.apple.ftpd": True, "com.apple.mrt.uiagent": True, "com.openssh.sshd": True}, binary=False)
    h.plist("/private/var/db/SystemPolicyConfiguration/SystemPolicy-prefs.plist", {"enabled": "yes"})
    install_history(h, [
        ("2025-09-16T18:40:02Z", "macOS Sequoia 15.7", "15.7", [], "softwareupdated"),
        ("2025-11-04T19:11:12Z", "macOS Sequoia 15.7.2", "15.7.2", [], "softwareupdated"),
        ("2026-11-19T02:58:31Z", "XProtectPlistConfigData", "5330",
         ["com.apple.pkg.XProtectPlistConfigData_10_15.16U4412"], "softwareupdated"),
    ])
    receipt(h, "com.apple.pkg.XProtectPlistConfigData_10_15.16U4412", "5330", "2026-11-19T02:58:31Z",
            "softwareupdated")
    receipt(h, "com.google.Chrome", "142.0.7444.176", "2026-11-20T08:00:00Z")
    app(h, "/Applications/Google Chrome.app", "com.google.Chrome", "142.0.7444.176", "7444.176",
        "Google Chrome", "universal", binary=True)
    app(h, "/Applications/Slack.app", "com.tinyspeck.slackmacgap", "4.47.59", "447059", "Slack", "arm64")
    h.plist("/Users/bob/Library/Preferences/ByHost/com.apple.screensaver.%s.plist"
            % uuid_of("hw:macos15-encrypting"), {"idleTime": 1200, "moduleDict": {"moduleName": "Drift"}})
    h.cap("macos.fdesetup.status", "FileVault is On.\nEncryption in progress: Percent completed = 42\n")
    h.cap("macos.fdesetup.haspersonalrecoverykey", "true\n")
    h.cap("macos.diskutil.apfs.list", apple_silicon_apfs(True, True, size=494384795648))
    h.cap("macos.diskutil.info.data", data_info("disk3s5", "disk3", "disk0s2", "Data", True, True))
    h.cap("macos.diskutil.info.disk0", disk0_info("APPLE SSD AP0512Z", "Apple Fabric", 500277790720))
    h.api("macos.sysctl.swapusage", swap(1073741824, 528482304))
    out, err = su_list([("macOS Sequoia 15.7.3-24G419", "macOS Sequoia 15.7.3", "15.7.3", "2873413KiB",
                         "restart")])
    h.cap("macos.softwareupdate.list.noscan", out, err)
    h.cap("macos.pwpolicy.accountpolicies", pwpolicy(PWPOLICY_DEFAULT_15))
    h.cap("macos.socketfilterfw.state", alf(0))
    h.cap("macos.spctl.status", "assessments enabled\n")
    h.cap("macos.csrutil.status", "System Integrity Protection status: enabled.\n")
    h.cap("macos.csrutil.authroot", "Authenticated Root status: enabled\n")
    h.cap("macos.systemsetup.networktime", "Network Time: On\n")
    h.cap("macos.launchctl.auditd", "", AUDITD_MISSING, exit_code=113)
    h.cap("macos.system_profiler.ibridge", ibridge("Mac14,2", "Full Security"))
    h.cap("macos.xprotect.status", "XProtect launch scans: enabled\nXProtect background scans: enabled\n")
    h.cap("macos.pmset.custom", pmset_output(30, 15))
    h.cap("macos.ioreg.platform", ioreg("Mac14,2", "C02HX1ZBQ6LR", uuid_of("hw:macos15-encrypting")))
    h.cap("macos.profiles.configuration", profiles_xml([]))
    h.cap("macos.sysadminctl.screenlock.bob", "", screenlock_line("screenLock delay is 300 seconds", 2210),
          pending=True, key="macos.sysadminctl.screenlock")
    h.cap("macos.launchctl.print_disabled", print_disabled({
        "com.apple.ftpd": True, "com.apple.mrt.uiagent": True, "com.openssh.sshd": True}), pending=True)
    h.api("macos.sysctl.hardware", hardware(
        "24.6.0", "Darwin Kernel Version 24.6.0: Mon Oct 13 21:25:16 PDT 2025; "
        "root:xnu-11417.140.69.703.14~1/RELEASE_ARM64_T8112", "Apple M2", 17179869184, 8), pending=True)
    h.manifest({"model": "Mac14,2", "os": "macOS 15.7.2 (24G325)",
                "note": "recorded by hand in the layout of a real MacBook Air's outputs for this fixture"})
    return h


def macos14_intel():
    h = Host("macos14-intel-unmanaged")
    system_version(h, "14.8.2", "23J126")
    common_system(h)
    system_users(h)
    carol = user(h, "carol", 501, realname="Carol Diaz", password=b"fixture:carol:" + seeded("pw:carol", 9).hex().encode(),
                 iterations=27330)
    groups(h, ["carol"], [carol])
    software_update(h, "2026-10-02T16:22:09Z", recommended=[
        ("macOS Sequoia 15.7.3", "15.7.3", "MSU_UPDATE_24G419_major")],
        build="23J126", system="14.8.2")
    h.plist("/Library/Preferences/com.apple.loginwindow.plist", {"lastUserName": "carol"})
    h.plist("/Library/Preferences/com.apple.alf.plist", {
        "globalstate": 0, "allowsignedenabled": 1, "allowdownloadsignedenabled": 1, "loggingenabled": 0,
        "stealthenabled": 0, "version": "2.0", "applications": [], "exceptions": []})
    power(h, 10, None)
    preferences_plist(h, "Carol's iMac", "Carols-iMac")
    h.plist("/private/var/db/com.apple.xpc.launchd/disabled.plist", {
        "com.apple.ftpd": True, "com.apple.mrt.uiagent": True}, binary=False)
    install_history(h, [
        ("2024-03-07T20:01:44Z", "macOS Sonoma 14.4", "14.4", [], "softwareupdated"),
        ("2025-11-04T21:30:09Z", "macOS Sonoma 14.8.2", "14.8.2", [], "softwareupdated"),
        ("2026-11-17T04:05:00Z", "XProtectPlistConfigData", "5330",
         ["com.apple.pkg.XProtectPlistConfigData_10_15.16U4412"], "softwareupdated"),
    ])
    receipt(h, "com.apple.pkg.XProtectPlistConfigData_10_15.16U4412", "5330", "2026-11-17T04:05:00Z",
            "softwareupdated")
    receipt(h, "org.libreoffice.script", "25.8.3", "2026-11-01T10:00:00Z")
    app(h, "/Applications/LibreOffice.app", "org.libreoffice.script", "25.8.3", "25.8.3.2", "soffice", "x86_64")
    h.cap("macos.fdesetup.status", "FileVault is Off.\n")
    h.cap("macos.fdesetup.haspersonalrecoverykey", "false\n")
    h.cap("macos.diskutil.apfs.list", intel_apfs())
    h.cap("macos.diskutil.info.data", data_info("disk1s2", "disk1", "disk0s2", "Macintosh HD - Data", False,
                                                False))
    h.cap("macos.diskutil.info.disk0", disk0_info("APPLE SSD SM1024L", "PCI-Express", 1000555581440))
    h.api("macos.sysctl.swapusage", swap(3221225472, 1405616128))
    out, err = su_list([("macOS Sequoia 15.7.3-24G419", "macOS Sequoia 15.7.3", "15.7.3", "15334215KiB",
                         "restart")])
    h.cap("macos.softwareupdate.list.noscan", out, err)
    h.cap("macos.pwpolicy.accountpolicies", pwpolicy(PWPOLICY_DEFAULT_14))
    h.cap("macos.socketfilterfw.state", alf(0))
    h.cap("macos.spctl.status", "assessments enabled\n")
    h.cap("macos.csrutil.status", "System Integrity Protection status: enabled.\n")
    h.cap("macos.csrutil.authroot", "Authenticated Root status: enabled\n")
    h.cap("macos.systemsetup.networktime", "Network Time: On\n")
    h.cap("macos.launchctl.auditd", "", AUDITD_MISSING, exit_code=113)
    h.cap("macos.system_profiler.ibridge", '{\n  "SPiBridgeDataType" : [\n\n  ]\n}\n')
    h.cap_error("macos.xprotect.status", "/usr/bin/xprotect: not installed")
    h.cap("macos.pmset.custom", pmset_output(10, None))
    h.cap("macos.ioreg.platform", ioreg("iMac19,1", "C02ZK0AYJV3Q", uuid_of("hw:macos14-intel-unmanaged")))
    h.cap("macos.profiles.configuration", profiles_xml([]))
    h.cap("macos.launchctl.print_disabled", print_disabled({
        "com.apple.ftpd": True, "com.apple.mrt.uiagent": True}), pending=True)
    h.api("macos.sysctl.hardware", hardware(
        "23.6.0", "Darwin Kernel Version 23.6.0: Fri Oct 10 19:33:17 PDT 2025; "
        "root:xnu-10063.141.1.708.2~1/RELEASE_X86_64", "Intel(R) Core(TM) i5-8500 CPU @ 3.00GHz",
        17179869184, 6), pending=True)
    h.manifest({"model": "iMac19,1", "os": "macOS 14.8.2 (23J126)",
                "note": "recorded by hand in the layout of a real iMac's outputs for this fixture; "
                        "no user was logged in, so no sysadminctl capture"})
    return h


KCPASSWORD_KEY = bytes([0x7D, 0x89, 0x52, 0x23, 0xD2, 0xBC, 0xDD, 0xEA, 0xA3, 0xB9, 0x1F])


def kcpassword(password):
    data = bytearray(password)
    pad = 12 - len(data) % 12
    data += b"\0" * pad
    return bytes(b ^ KCPASSWORD_KEY[i % len(KCPASSWORD_KEY)] for i, b in enumerate(data))


def macos15_custom_sip():
    h = Host("macos15-custom-sip")
    system_version(h, "15.6.1", "24G90")
    common_system(h)
    system_users(h)
    dev_pw = b"fixture-dev-" + seeded("pw:dev", 4).hex().encode()
    dev = user(h, "dev", 501, realname="Build Developer", password=dev_pw, iterations=41211)
    user(h, "test", 502, realname="Test User", password=b"", iterations=41211)
    user(h, "toor", 0, gid=0, realname="Toor", shell="/bin/sh", home="/var/root",
         password=b"fixture:toor:" + seeded("pw:toor", 9).hex().encode(), iterations=41211)
    h.plist("/private/var/db/dslocal/nodes/Default/users/Guest.plist", {
        "name": ["Guest"], "realname": ["Guest User"], "uid": ["201"], "gid": ["201"],
        "generateduid": [uuid_of("user:guest")], "home": ["/Users/Guest"], "shell": ["/bin/zsh"],
        "authentication_authority": [";basic;"], "dsAttrTypeNative:_defaultLanguage": ["en"],
        "_guest": ["true"], "passwd": ["*"],
    })
    groups(h, ["dev"], [dev])
    software_update(h, "2026-09-30T11:47:30Z", recommended=[
        ("macOS Sequoia 15.7.2", "15.7.2", "MSU_UPDATE_24G325_patch_15.7.2_minor"),
        ("Safari", "26.1", "082-41241")],
        build="24G90", system="15.6.1", AutomaticCheckEnabled=False, AutomaticDownload=False,
        CriticalUpdateInstall=False, ConfigDataInstall=False, AutomaticallyInstallMacOSUpdates=False)
    h.plist("/Library/Preferences/com.apple.loginwindow.plist", {
        "lastUserName": "dev", "autoLoginUser": "dev", "autoLoginUserUID": 501,
        "autoLoginUserScreenLocked": False, "GuestEnabled": True})
    h.write("/private/etc/kcpassword", kcpassword(dev_pw), mode=0o600)
    h.plist("/Library/Preferences/com.apple.timed.plist", {"TMAutomaticTimeOnlyEnabled": False})
    h.plist("/Library/Preferences/SystemConfiguration/com.apple.smb.server.plist", {
        "AllowGuestAccess": True, "NetBIOSName": "BUILD-MINI"})
    power(h, 0, None)
    h.plist("/Library/Preferences/com.apple.commerce.plist", {"AutoUpdate": False})
    preferences_plist(h, "build-mini", "build-mini")
    h.plist("/private/var/db/com.apple.xpc.launchd/disabled.plist", {
        "com.apple.ftpd": True, "com.openssh.sshd": False, "com.apple.screensharing": False}, binary=False)
    h.write("/private/etc/ssh/sshd_config.d/200-dev.conf",
            "# CI runners log in as root with a password\nPermitRootLogin yes\nPasswordAuthentication yes\n")
    h.write("/private/etc/sudoers.d/dev", "dev ALL=(ALL) NOPASSWD: ALL\n", mode=0o440)
    h.plist("/private/var/db/SystemPolicyConfiguration/SystemPolicy-prefs.plist", {"enabled": "no"})
    install_history(h, [
        ("2025-08-20T09:11:00Z", "macOS Sequoia 15.6.1", "15.6.1", [], "softwareupdated"),
        ("2026-09-11T03:02:45Z", "XProtectPlistConfigData", "5318",
         ["com.apple.pkg.XProtectPlistConfigData_10_15.16U4398"], "softwareupdated"),
    ])
    receipt(h, "com.apple.pkg.XProtectPlistConfigData_10_15.16U4398", "5318", "2026-09-11T03:02:45Z",
            "softwareupdated")
    receipt(h, "com.docker.docker", "4.50.0", "2026-10-15T10:00:00Z")
    app(h, "/Applications/Docker.app", "com.docker.docker", "4.50.0", "209931", "Docker", "arm64")
    h.cap("macos.fdesetup.status", "FileVault is Off.\n")
    h.cap("macos.fdesetup.haspersonalrecoverykey", "false\n")
    h.cap("macos.diskutil.apfs.list", apple_silicon_apfs(False, False, size=494384795648))
    h.cap("macos.diskutil.info.data", data_info("disk3s5", "disk3", "disk0s2", "Data", False, True))
    h.cap("macos.diskutil.info.disk0", disk0_info("APPLE SSD AP0512Z", "Apple Fabric", 500277790720))
    h.api("macos.sysctl.swapusage", swap(4294967296, 3019898880))
    out, err = su_list([
        ("macOS Sequoia 15.7.2-24G325", "macOS Sequoia 15.7.2", "15.7.2", "3710218KiB", "restart"),
        ("Safari26.1SequoiaAuto-26.1", "Safari", "26.1", "231482KiB", "")])
    h.cap("macos.softwareupdate.list.noscan", out, err)
    h.cap("macos.pwpolicy.accountpolicies", pwpolicy(PWPOLICY_DEFAULT_15))
    h.cap("macos.socketfilterfw.state", alf(0))
    h.cap("macos.spctl.status", "assessments disabled\n", exit_code=1)
    h.cap("macos.csrutil.status",
          "System Integrity Protection status: enabled (Custom Configuration).\n\nConfiguration:\n"
          "\tApple Internal: disabled\n\tKext Signing: enabled\n\tFilesystem Protections: disabled\n"
          "\tDebugging Restrictions: disabled\n\tDTrace Restrictions: disabled\n\tNVRAM Protections: enabled\n"
          "\tBaseSystem Verification: enabled\n\tBoot-arg Restrictions: enabled\n"
          "\tKernel Integrity Protections: enabled\n\tAuthenticated Root Requirement: enabled\n\n"
          "This is an unsupported configuration, likely to break in the future and leave your machine "
          "in an unknown state.\n")
    h.cap("macos.csrutil.authroot", "Authenticated Root status: enabled\n")
    h.cap("macos.systemsetup.networktime", "Network Time: Off\n")
    h.cap("macos.launchctl.auditd", "", AUDITD_MISSING, exit_code=113)
    h.cap("macos.system_profiler.ibridge", ibridge("Mac14,12", "Permissive Security", other_kext="Yes",
                                                   sip="Custom Configuration"))
    h.cap("macos.xprotect.status", "XProtect launch scans: enabled\nXProtect background scans: enabled\n")
    h.cap("macos.pmset.custom", pmset_output(0, None))
    h.cap("macos.ioreg.platform", ioreg("Mac14,12", "H7QX9N2DPF", uuid_of("hw:macos15-custom-sip")))
    h.cap("macos.profiles.configuration", profiles_xml([]))
    h.cap("macos.sysadminctl.screenlock.dev", "", screenlock_line("screenLock is off", 3105),
          pending=True, key="macos.sysadminctl.screenlock")
    h.cap("macos.launchctl.print_disabled", print_disabled({
        "com.apple.ftpd": True, "com.openssh.sshd": False, "com.apple.screensharing": False}), pending=True)
    h.api("macos.sysctl.hardware", hardware(
        "24.6.0", "Darwin Kernel Version 24.6.0: Mon Jul 14 11:30:29 PDT 2025; "
        "root:xnu-11417.140.69~1/RELEASE_ARM64_T6020", "Apple M2 Pro", 34359738368, 10), pending=True)
    h.manifest({"model": "Mac14,12", "os": "macOS 15.6.1 (24G90)",
                "note": "recorded by hand in the layout of a real Mac mini's outputs for this fixture"})
    return h


def macos26_fresh_image():
    """A restored macOS 26.1 image before Setup Assistant ran: no human account yet."""
    h = Host("macos26-fresh-image")
    system_version(h, "26.1", "25B78")
    common_system(h)
    system_users(h)
    groups(h, [])
    h.plist("/private/var/db/com.apple.xpc.launchd/disabled.plist", {
        "com.apple.ftpd": True, "com.apple.mrt.uiagent": True}, binary=False)
    install_history(h, [("2026-11-24T16:03:51Z", "macOS 26.1", "26.1", [], "OS X Installer")])
    return h


def variants():
    v = Host("macos26-laptop+remote-login", variant=True)
    v.plist("/private/var/db/com.apple.xpc.launchd/disabled.plist", {
        "com.apple.auditd": False, "com.apple.ftpd": True, "com.apple.mrt.uiagent": True,
        "com.apple.screensharing": True, "com.openssh.sshd": False, "com.apple.smbd": True,
    }, binary=False)
    v.write("/private/etc/ssh/sshd_config.d/200-hardening.conf",
            "# Remote Login for the help desk: keys only\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n")
    v.write("_captures/macos.launchctl.print_disabled.stdout", print_disabled({
        "com.apple.auditd": False, "com.apple.ftpd": True, "com.apple.mrt.uiagent": True,
        "com.apple.screensharing": True, "com.openssh.sshd": False, "com.apple.smbd": True}))

    v = Host("macos26-laptop+loginwindow-empty", variant=True)
    v.write("/Library/Preferences/com.apple.loginwindow.plist", b"")

    v = Host("macos26-laptop+unlisted-major", variant=True)
    system_version(v, "28.0", "28A5201e")

    v = Host("macos26-laptop+auditd-override-malformed", variant=True)
    v.plist("/private/var/db/com.apple.xpc.launchd/disabled.plist", {
        "com.apple.auditd": "off", "com.apple.ftpd": True, "com.apple.mrt.uiagent": True,
        "com.apple.screensharing": True, "com.openssh.sshd": True, "com.apple.smbd": True,
    }, binary=False)

    Host("macos15-encrypting+offline", variant=True)  # expected.json only: collected offline

    v = Host("macos15-encrypting+dslocal-truncated", variant=True)
    bob = HOSTS / "macos15-encrypting/private/var/db/dslocal/nodes/Default/users/bob.plist"
    v.write("/private/var/db/dslocal/nodes/Default/users/bob.plist", bob.read_bytes()[:48])

    v = Host("macos15-encrypting+timed-plist-off", variant=True)
    v.plist("/Library/Preferences/com.apple.timed.plist", {"TMAutomaticTimeOnlyEnabled": False})

    v = Host("macos15-encrypting+gatekeeper-disagree", variant=True)
    v.plist("/private/var/db/SystemPolicyConfiguration/SystemPolicy-prefs.plist", {"enabled": "no"})

    v = Host("macos14-intel-unmanaged+swap-unencrypted", variant=True)
    v.write("_captures/macos.sysctl.swapusage.json",
            json.dumps(swap(3221225472, 1405616128, encrypted=0), indent=2) + "\n")


def main():
    if not HOSTS.is_dir():
        sys.exit(f"{HOSTS}: run from the repository")
    macos26_laptop()
    macos15_encrypting()
    macos14_intel()
    macos15_custom_sip()
    macos26_fresh_image()
    variants()


if __name__ == "__main__":
    main()
