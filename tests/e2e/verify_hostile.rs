//! `attest-collector verify` on bundles from anyone, through the real binary: what it
//! refuses and says, its exit codes, and that its memory stays bounded whatever the
//! file (peak RSS read from `/proc` while it runs). A bundle re-signed end to end with
//! another collector key never says VERIFIED. `log-key` prints what `verify` takes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use attest_collector::log::Checkpoint;
use attest_collector::report::bundle::{Manifest, manifest_sig_text};
use attest_collector::report::verify::{read_entries, write_entries};
use attest_proto::{SigningKey, encode_public_key, keyid, sha256_hex};

use crate::support::bin;

/// Generous bound on the peak RSS of `verify`, whatever the input.
const MAX_RSS_KB: u64 = 200 * 1024;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    peak_rss_kb: u64,
}

impl Run {
    fn first_line(&self) -> &str {
        if self.stdout.is_empty() {
            self.stderr.lines().next().unwrap_or("")
        } else {
            self.stdout.lines().next().unwrap_or("")
        }
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}, peak RSS {} kB\nstdout:\n{}\nstderr:\n{}",
            self.code, self.peak_rss_kb, self.stdout, self.stderr
        )
    }
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Runs `attest-collector ARGS` with HOME at `home` (so no trust file of the machine's
/// user is read), sampling its peak RSS until it exits.
fn run(home: &Path, args: &[&str]) -> Run {
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(bin("attest-collector"))
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("ATTEST_TRUST_FILE")
        .env("ATTEST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap();
    let mut peak = 0;
    let status = loop {
        if let Some(kb) = vm_hwm_kb(child.id()) {
            peak = peak.max(kb);
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Run {
        code: status.code(),
        stdout: std::fs::read_to_string(out.path()).unwrap(),
        stderr: std::fs::read_to_string(err.path()).unwrap(),
        peak_rss_kb: peak,
    }
}

/// A small real bundle: `attest-fleetgen` fills a collector's data directory, `export`
/// writes the bundle. Made once for all the tests of this module.
struct Fleet {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bundle: PathBuf,
    key_id: String,
}

fn fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let generated = Command::new(bin("attest-fleetgen"))
            .arg("--data-dir")
            .arg(&data)
            .args(["--hosts", "4", "--rounds", "2", "--seed", "9"])
            .output()
            .unwrap();
        assert!(
            generated.status.success(),
            "{}",
            String::from_utf8_lossy(&generated.stderr)
        );
        let bundle = dir.path().join("evidence.tar.gz");
        let out = Command::new(bin("attest-collector"))
            .arg("--data-dir")
            .arg(&data)
            .args(["export", "--out", bundle.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let key_id = stderr
            .split("--collector-key ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        Fleet {
            _dir: dir,
            data,
            bundle,
            key_id,
        }
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(raw).unwrap();
    gz.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
    out
}

/// A tar of one header whose fields are set by hand (the builder refuses bad paths).
fn raw_header(path: &str, kind: tar::EntryType, size: u64, link: Option<&str>) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(kind);
    if let Some(l) = link {
        h.as_gnu_mut().unwrap().linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_cksum();
    h.as_bytes().to_vec()
}

/// A gzip of a tar holding `report.html` of `size` zero bytes, deflated by hand with
/// runs of 258 bytes at distance 1 (13 bits each): about 158 inflated bytes per byte.
fn gzip_bomb(size: u64) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, v: u64, len: u32) {
            self.acc |= v << self.n;
            self.n += len;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// A Huffman code: most significant bit first.
        fn code(&mut self, code: u64, len: u32) {
            let mut r = 0;
            for i in 0..len {
                r |= ((code >> i) & 1) << (len - 1 - i);
            }
            self.put(r, len);
        }
        fn literal(&mut self, b: u8) {
            if b < 144 {
                self.code(0x30 + u64::from(b), 8);
            } else {
                self.code(0x190 + u64::from(b) - 144, 9);
            }
        }
    }
    let header = raw_header("report.html", tar::EntryType::Regular, size, None);
    let zeros = size.div_ceil(512) * 512 + 1024;
    let mut bits = Bits {
        out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        acc: 0,
        n: 0,
    };
    bits.put(1, 1); // final block
    bits.put(1, 2); // fixed Huffman codes
    for &b in &header {
        bits.literal(b);
    }
    bits.literal(0);
    let runs = (zeros - 1) / 258;
    for _ in 0..runs {
        bits.code(0xc5, 8); // length 258
        bits.code(0, 5); // distance 1
    }
    for _ in 0..(zeros - 1) % 258 {
        bits.literal(0);
    }
    bits.code(0, 7); // end of block
    if bits.n > 0 {
        bits.put(0, 8 - bits.n);
    }
    // The trailer: CRC-32 and size of the tar, the zeros' CRC combined per MiB.
    let mut crc = flate2::Crc::new();
    crc.update(&header);
    let mut mib = flate2::Crc::new();
    mib.update(&[0u8; 1 << 20]);
    for _ in 0..zeros >> 20 {
        crc.combine(&mib);
    }
    crc.update(&vec![0u8; (zeros % (1 << 20)) as usize]);
    let mut out = bits.out;
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&((512 + zeros) as u32).to_le_bytes());
    out
}

/// The bundle's entries re-signed end to end with `forger`: checkpoint, collector key,
/// manifest and its signature — internally consistent, by another collector key.
fn forge(entries: &[(String, Vec<u8>)], forger: &SigningKey) -> Vec<(String, Vec<u8>)> {
    let mut out = entries.to_vec();
    let get =
        |out: &[(String, Vec<u8>)], name: &str| out.iter().position(|(p, _)| p == name).unwrap();
    let cp: Checkpoint = serde_json::from_slice(&out[get(&out, "checkpoint.json")].1).unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(&cp.timestamp)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let forged = Checkpoint::sign(forger, cp.tree_size, &cp.root().unwrap(), at);
    let i = get(&out, "checkpoint.json");
    out[i].1 = serde_json::to_vec_pretty(&forged).unwrap();
    let public = encode_public_key(&forger.verifying_key());
    let i = get(&out, "collector.pub");
    out[i].1 = format!("{public}\n").into_bytes();
    let i = get(&out, "manifest.json");
    let mut manifest: Manifest = serde_json::from_slice(&out[i].1).unwrap();
    manifest.collector_key = public;
    manifest.collector_key_id = keyid(&forger.verifying_key());
    for f in &mut manifest.files {
        let data = &entries.iter().find(|(p, _)| *p == f.path).unwrap().1;
        let data = if f.path == "checkpoint.json" || f.path == "collector.pub" {
            &out.iter().find(|(p, _)| *p == f.path).unwrap().1
        } else {
            data
        };
        f.sha256 = sha256_hex(data);
        f.size = data.len() as u64;
    }
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap();
    let j = get(&out, "manifest.sig");
    out[j].1 = manifest_sig_text(&bytes, forger).into_bytes();
    out[i].1 = bytes;
    out
}

fn assert_bounded(r: &Run, what: &str) {
    assert!(r.peak_rss_kb > 0, "{what}: no RSS sampled\n{r}");
    assert!(
        r.peak_rss_kb < MAX_RSS_KB,
        "{what}: peak RSS {} kB over {MAX_RSS_KB} kB\n{r}",
        r.peak_rss_kb
    );
}

#[test]
fn log_key_prints_what_verify_takes_and_trust_decides() {
    let f = fleet();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();

    // log-key: the key id alone on stdout, the same export printed.
    let r = run(h, &["--data-dir", s(&f.data), "log-key"]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(r.stdout, format!("{}\n", f.key_id));
    assert!(
        r.stderr.contains(&format!("--collector-key {}", f.key_id)),
        "{r}"
    );
    let pem = run(h, &["--data-dir", s(&f.data), "log-key", "--pem"]);
    assert_eq!(pem.code, Some(0), "{pem}");
    assert!(
        pem.stdout
            .starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"),
        "{pem}"
    );
    let empty = h.join("no-collector");
    let r = run(h, &["--data-dir", s(&empty), "log-key"]);
    assert_eq!(r.code, Some(1), "{r}");
    assert!(
        r.first_line().contains("log-signing.key does not exist"),
        "{r}"
    );
    assert!(
        !empty.join("log-signing.key").exists(),
        "log-key created a key"
    );

    // Given as the key id, as the PEM file, as collector.pub's form: VERIFIED.
    let pem_file = h.join("collector.pem");
    std::fs::write(&pem_file, &pem.stdout).unwrap();
    for key in [f.key_id.as_str(), s(&pem_file)] {
        let r = run(h, &["verify", s(&f.bundle), "--collector-key", key]);
        assert_eq!(r.code, Some(0), "{r}");
        assert!(
            r.first_line().starts_with("VERIFIED: ")
                && r.first_line().contains(&format!(
                    "signed by collector key {} (trusted: --collector-key)",
                    f.key_id
                )),
            "{r}"
        );
        assert_bounded(&r, "a genuine bundle");
    }

    // No key and no trust file: everything checked, but UNPINNED, exit 3.
    let r = run(h, &["verify", s(&f.bundle)]);
    assert_eq!(r.code, Some(3), "{r}");
    assert_eq!(
        r.first_line(),
        format!(
            "UNPINNED: the bundle is intact, but it is signed by collector key {}, which you \
             have not said you trust: nothing shows it comes from your collector.",
            f.key_id
        )
    );
    assert!(r.stdout.contains("Checked: "), "{r}");
    assert!(!r.stdout.contains("VERIFIED"), "{r}");

    // The default trust file, with a comment: VERIFIED, saying which line trusts it.
    let trust = h.join(".config/attest/trusted-collectors");
    std::fs::create_dir_all(trust.parent().unwrap()).unwrap();
    std::fs::write(
        &trust,
        format!("# ours\n{}  ACME test collector\n", f.key_id),
    )
    .unwrap();
    let r = run(h, &["verify", s(&f.bundle)]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        r.first_line().contains(&format!(
            "(trusted: {}:2: ACME test collector)",
            trust.display()
        )),
        "{r}"
    );
    // A trust file naming another key: unpinned, and it says so.
    let other = h.join("other-trust");
    std::fs::write(&other, format!("{}\n", "ab".repeat(32))).unwrap();
    let r = run(h, &["verify", s(&f.bundle), "--trust", s(&other)]);
    assert_eq!(r.code, Some(3), "{r}");
    assert!(
        r.stdout.contains(&format!(
            "The key is not among the 1 key(s) of {}.",
            other.display()
        )),
        "{r}"
    );
    // A malformed trust file, a missing one, a bad key: not checked, exit 2.
    std::fs::write(&other, "not-a-key\n").unwrap();
    let r = run(h, &["verify", s(&f.bundle), "--trust", s(&other)]);
    assert_eq!(r.code, Some(2), "{r}");
    assert_eq!(
        r.first_line(),
        format!(
            "attest-collector: {}:1: \"not-a-key\" is not a key id (64 hex digits) or a base64 \
             public key",
            other.display()
        )
    );
    let r = run(h, &["verify", s(&f.bundle), "--trust", s(&h.join("nope"))]);
    assert_eq!(r.code, Some(2), "{r}");
    assert_eq!(
        r.first_line(),
        format!(
            "attest-collector: cannot read {}: No such file or directory",
            h.join("nope").display()
        )
    );
    let r = run(h, &["verify", s(&f.bundle), "--collector-key", "xyz"]);
    assert_eq!(r.code, Some(2), "{r}");
    assert_eq!(
        r.first_line(),
        "attest-collector: --collector-key \"xyz\" is not a key id (64 hex digits), a base64 \
         public key, or a file"
    );
}

#[test]
fn first_hour_messages_say_what_happened() {
    let f = fleet();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let key = f.key_id.as_str();

    // A file that is not there: plainly so, exit 2, nothing on stdout.
    let missing = h.join("missing.tar.gz");
    let r = run(h, &["verify", s(&missing), "--collector-key", key]);
    assert_eq!(r.code, Some(2), "{r}");
    assert!(r.stdout.is_empty(), "{r}");
    assert_eq!(
        r.first_line(),
        format!(
            "attest-collector: cannot read {}: No such file or directory",
            missing.display()
        )
    );

    // Re-packed (as `tar czf` does, with directory entries): not export's layout.
    let entries = read_entries(&std::fs::read(&f.bundle).unwrap()).unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for (path, data) in &entries {
        if let Some((dir, _)) = path.split_once('/')
            && dirs.insert(dir.to_owned())
        {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            tar.append_data(&mut h, format!("{dir}/"), &b""[..])
                .unwrap();
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, path, data.as_slice()).unwrap();
    }
    let repacked = h.join("repacked.tar.gz");
    std::fs::write(&repacked, gzip(&tar.into_inner().unwrap())).unwrap();
    let r = run(h, &["verify", s(&repacked), "--collector-key", key]);
    assert_eq!(r.code, Some(2), "{r}");
    assert_eq!(
        r.first_line(),
        format!(
            "attest-collector: cannot check {}: not in the layout `export` writes: a directory \
             entry 'keys/' (a bundle holds only regular files)",
            repacked.display()
        )
    );

    // Content altered: FAILED, exit 1, naming the file.
    let mut altered = entries.clone();
    let (path, data) = altered
        .iter_mut()
        .find(|(p, _)| p.starts_with("envelopes/"))
        .unwrap();
    let at = data.len() / 2;
    data[at] ^= 0x20;
    let path = path.clone();
    let tampered = h.join("tampered.tar.gz");
    std::fs::write(&tampered, write_entries(&altered).unwrap()).unwrap();
    let r = run(h, &["verify", s(&tampered), "--collector-key", key]);
    assert_eq!(r.code, Some(1), "{r}");
    let first = r.first_line();
    assert!(
        first.starts_with("FAILED: ") && first.ends_with(&format!("in 1 file(s): {path}")),
        "{r}"
    );

    // A directory, and a file that is not gzip.
    let r = run(h, &["verify", s(h), "--collector-key", key]);
    assert_eq!(r.code, Some(2), "{r}");
    assert_eq!(
        r.first_line(),
        format!(
            "attest-collector: cannot read {}: it is a directory",
            h.display()
        )
    );
    let text = h.join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let r = run(h, &["verify", s(&text), "--collector-key", key]);
    assert_eq!(r.code, Some(2), "{r}");
    assert_eq!(
        r.first_line(),
        format!(
            "attest-collector: cannot check {}: not a gzip file (it does not start with the \
             gzip bytes 1f 8b)",
            text.display()
        )
    );
}

#[test]
fn hostile_bundles_are_refused_in_bounded_memory() {
    let f = fleet();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let key = f.key_id.as_str();
    let genuine = std::fs::read(&f.bundle).unwrap();
    let entries = read_entries(&genuine).unwrap();
    let envelope = entries
        .iter()
        .find(|(p, _)| p.starts_with("envelopes/"))
        .unwrap();

    let end = vec![0u8; 1024];
    let one = |header: Vec<u8>, data: &[u8]| {
        let mut raw = header;
        raw.extend_from_slice(data);
        raw.resize(raw.len().div_ceil(512) * 512, 0);
        raw.extend_from_slice(&end);
        gzip(&raw)
    };
    // An extra envelope in a tar of its own, after the bundle's tar or gzip member.
    let extra = {
        let mut t = tar::Builder::new(Vec::new());
        let mut hd = tar::Header::new_ustar();
        hd.set_size(envelope.1.len() as u64);
        t.append_data(&mut hd, "envelopes/extra/1.json", envelope.1.as_slice())
            .unwrap();
        t.into_inner().unwrap()
    };
    let mut appended_member = genuine.clone();
    appended_member.extend(gzip(&extra));
    let mut after_end_marker = gunzip(&genuine);
    after_end_marker.extend_from_slice(&extra);
    let after_end_marker = gzip(&after_end_marker);
    let mut duplicate = entries.clone();
    duplicate.push(("manifest.json".into(), b"{}".to_vec()));
    let mut long_json = b"{\"hosts\":[{\"agent_id\":\"".to_vec();
    long_json.resize(long_json.len() + (2 << 20), b'a');
    long_json.extend_from_slice(b"\"}]}");

    let bomb = gzip_bomb(1 << 30);
    assert!(bomb.len() < 8 << 20, "the bomb is {} bytes", bomb.len());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "gzip bomb (1 GiB of zeros in 7 MB)",
            bomb,
            "refused: it inflates to more than 100 times its compressed size",
        ),
        (
            "a header claiming 8 GiB for an envelope",
            gzip(&raw_header(
                "envelopes/a/1.json",
                tar::EntryType::Regular,
                8 << 30,
                None,
            )),
            "refused: envelopes/a/1.json is 8589934592 bytes, more than the 16777216 verify \
             holds in memory",
        ),
        (
            "a header claiming 8 GiB for report.html",
            gzip(&raw_header(
                "report.html",
                tar::EntryType::Regular,
                8 << 30,
                None,
            )),
            "not a readable tar.gz: report.html ends after 0 of its 8589934592 bytes",
        ),
        (
            "path traversal",
            one(
                raw_header("../../etc/cron.d/x", tar::EntryType::Regular, 4, None),
                b"evil",
            ),
            "not in the layout `export` writes: the entry '../../etc/cron.d/x' is not a plain \
             relative path",
        ),
        (
            "absolute path",
            one(
                raw_header("/etc/passwd", tar::EntryType::Regular, 4, None),
                b"evil",
            ),
            "not in the layout `export` writes: the entry '/etc/passwd' is not a plain relative \
             path",
        ),
        (
            "symbolic link",
            one(
                raw_header(
                    "keys/a.json",
                    tar::EntryType::Symlink,
                    0,
                    Some("/etc/shadow"),
                ),
                b"",
            ),
            "not in the layout `export` writes: a symbolic link 'keys/a.json' -> '/etc/shadow'",
        ),
        (
            "hard link",
            one(
                raw_header("keys/a.json", tar::EntryType::Link, 0, Some("/etc/shadow")),
                b"",
            ),
            "not in the layout `export` writes: a hard link 'keys/a.json' -> '/etc/shadow'",
        ),
        (
            "GNU long name",
            one(
                raw_header("././@LongLink", tar::EntryType::GNULongName, 8, None),
                b"a-name\0\0",
            ),
            "not in the layout `export` writes: a GNU long-name header",
        ),
        (
            "a gzip member appended",
            appended_member,
            "not in the layout `export` writes: a second gzip member after the first",
        ),
        (
            "a tar appended after the end marker",
            after_end_marker,
            "not in the layout `export` writes: data after the end of the tar archive",
        ),
        (
            "a name twice",
            write_entries(&duplicate).unwrap(),
            "not in the layout `export` writes: 'manifest.json' is in the archive twice",
        ),
        (
            "a 2 MiB JSON string",
            write_entries(&[("report.json".into(), long_json)]).unwrap(),
            "refused: report.json holds a JSON string or number longer than 1048576 bytes",
        ),
    ];
    for (what, bytes, says) in cases {
        let file = h.join("hostile.tar.gz");
        std::fs::write(&file, &bytes).unwrap();
        let r = run(h, &["verify", s(&file), "--collector-key", key]);
        assert_eq!(r.code, Some(2), "{what}: {r}");
        assert!(r.stdout.is_empty(), "{what}: {r}");
        let expected = format!("attest-collector: cannot check {}: {says}", file.display());
        assert!(
            r.first_line().starts_with(&expected),
            "{what}: expected {expected:?}\n{r}"
        );
        assert_bounded(&r, what);
    }
}

#[test]
fn a_bundle_re_signed_by_another_collector_never_verifies() {
    let f = fleet();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let entries = read_entries(&std::fs::read(&f.bundle).unwrap()).unwrap();
    let forger = SigningKey::from_bytes(&[66; 32]);
    let forger_id = keyid(&forger.verifying_key());
    let forged = h.join("forged.tar.gz");
    std::fs::write(&forged, write_entries(&forge(&entries, &forger)).unwrap()).unwrap();

    // Trusting nothing: it is intact under the forger's key, so UNPINNED (exit 3).
    let r = run(h, &["verify", s(&forged)]);
    assert_eq!(r.code, Some(3), "{r}");
    assert!(
        r.first_line().starts_with(&format!(
            "UNPINNED: the bundle is intact, but it is signed by collector key {forger_id},"
        )),
        "{r}"
    );
    // The real collector's key given: FAILED, naming the signature.
    let r = run(h, &["verify", s(&forged), "--collector-key", &f.key_id]);
    assert_eq!(r.code, Some(1), "{r}");
    assert_eq!(
        r.first_line(),
        "FAILED: 1 problem(s) in 1 file(s): manifest.sig"
    );
    assert!(
        r.stdout.contains(&format!(
            "signed by collector key {forger_id}, not by the key given ({})",
            f.key_id
        )),
        "{r}"
    );
    // The real key in the trust file: still not trusted.
    let trust = h.join("trusted");
    std::fs::write(&trust, format!("{}  the real collector\n", f.key_id)).unwrap();
    let r = run(h, &["verify", s(&forged), "--trust", s(&trust)]);
    assert_eq!(r.code, Some(3), "{r}");
    assert!(!r.stdout.contains("VERIFIED"), "{r}");
    assert_bounded(&r, "a forged bundle");
    // The genuine bundle with the same trust file verifies.
    let r = run(h, &["verify", s(&f.bundle), "--trust", s(&trust)]);
    assert_eq!(r.code, Some(0), "{r}");
}
