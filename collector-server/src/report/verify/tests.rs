//! The archive reader refuses what `export` does not write, within its limits; the
//! verdict says VERIFIED only of a trusted signer.

use super::archive::{ArchiveError, Limits, read_archive};
use super::*;

fn tar_gz(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, kind, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(*kind);
        if *kind == tar::EntryType::Symlink {
            h.set_link_name("/etc/passwd").unwrap();
        }
        tar.append_data(&mut h, path, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn refused(bytes: &[u8], limits: &Limits) -> ArchiveError {
    read_archive(bytes, limits, |_, _, _| Ok(())).unwrap_err()
}

#[test]
fn sig_files_parse_strictly() {
    let key = attest_proto::SigningKey::from_bytes(&[1; 32]);
    let text = super::super::bundle::manifest_sig_text(b"{}", &key);
    let (sha, _) = parse_sig(text.as_bytes()).unwrap();
    assert_eq!(sha, sha256_hex(b"{}"));
    assert!(parse_sig(text.trim_end().as_bytes()).is_none());
    assert!(parse_sig(format!("{text}\n").as_bytes()).is_none());
    assert!(parse_sig(text.replace("sha256:", "sha257:").as_bytes()).is_none());
    assert!(parse_sig(text.to_uppercase().as_bytes()).is_none());
}

#[test]
fn envelope_paths_are_canonical() {
    assert_eq!(envelope_path("envelopes/a/12.json"), Some(("a".into(), 12)));
    assert_eq!(envelope_path("envelopes/a/012.json"), None);
    assert_eq!(envelope_path("envelopes/a/+1.json"), None);
    assert_eq!(envelope_path("envelopes//1.json"), None);
    assert_eq!(envelope_path("envelopes/a/b/1.json"), None);
}

#[test]
fn only_plain_regular_files_once_are_read() {
    let l = Limits::default();
    let ok = tar_gz(&[("a.json", tar::EntryType::Regular, b"{}")]);
    let files = read_archive(ok.as_slice(), &l, |_, _, _| Ok(())).unwrap();
    assert_eq!(files["a.json"].size, 2);
    assert_eq!(hex::encode(files["a.json"].sha256), sha256_hex(b"{}"));

    for (entries, says) in [
        (
            vec![("x/", tar::EntryType::Directory, &b""[..])],
            "a directory entry 'x/'",
        ),
        (
            vec![("l", tar::EntryType::Symlink, &b""[..])],
            "a symbolic link 'l' -> '/etc/passwd'",
        ),
        (vec![("a", tar::EntryType::Fifo, &b""[..])], "a FIFO 'a'"),
        (
            vec![
                ("a", tar::EntryType::Regular, &b"1"[..]),
                ("a", tar::EntryType::Regular, &b"2"[..]),
            ],
            "'a' is in the archive twice",
        ),
    ] {
        let e = refused(&tar_gz(&entries), &l);
        assert!(
            matches!(&e, ArchiveError::Layout(m) if m.starts_with(says)),
            "{e}"
        );
    }
    // Paths the tar crate's builder will not write: patch the header by hand.
    for bad in ["../etc/x", "/etc/x", "a//b", "./a"] {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..bad.len()].copy_from_slice(bad.as_bytes());
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let mut raw = h.as_bytes().to_vec();
        raw.extend_from_slice(&[0; 1024]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let e = refused(&gz.finish().unwrap(), &l);
        assert!(
            matches!(&e, ArchiveError::Layout(m) if m.contains("not a plain relative path")),
            "{bad}: {e}"
        );
    }
}

#[test]
fn nothing_may_follow_the_archive() {
    let l = Limits::default();
    let one = tar_gz(&[("a", tar::EntryType::Regular, b"1")]);
    let mut two = one.clone();
    two.extend_from_slice(&tar_gz(&[("b", tar::EntryType::Regular, b"2")]));
    let e = refused(&two, &l);
    assert!(e.to_string().contains("a second gzip member"), "{e}");
    let mut junk = one.clone();
    junk.extend_from_slice(b"junk");
    assert!(
        refused(&junk, &l)
            .to_string()
            .contains("after the end of the gzip")
    );

    // A second tar inside the same gzip member, after the first one's end marker.
    let mut raw = Vec::new();
    for name in ["a", "b"] {
        let mut t = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        t.append_data(&mut h, name, &b"x"[..]).unwrap();
        raw.extend(t.into_inner().unwrap());
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    let e = refused(&gz.finish().unwrap(), &l);
    assert!(e.to_string().contains("after the end of the tar"), "{e}");

    let e = refused(b"not gzip at all", &l);
    assert!(matches!(e, ArchiveError::NotGzip(_)), "{e}");
    let e = refused(&one[..one.len() - 6], &l);
    assert!(matches!(e, ArchiveError::Corrupt(_)), "{e}");
}

#[test]
fn limits_are_checked_on_the_inflated_bytes() {
    let small = Limits {
        max_entries: 3,
        max_path: 10,
        max_total: 1 << 20,
        max_ratio: 10,
        ratio_floor: 64 << 10,
        max_held: 1000,
        max_manifest: 1000,
        max_pending: 1000,
    };
    let many: Vec<(String, tar::EntryType, Vec<u8>)> = (0..4)
        .map(|i| (format!("f{i}"), tar::EntryType::Regular, vec![]))
        .collect();
    let many: Vec<(&str, tar::EntryType, &[u8])> = many
        .iter()
        .map(|(p, k, d)| (p.as_str(), *k, d.as_slice()))
        .collect();
    assert!(
        refused(&tar_gz(&many), &small)
            .to_string()
            .contains("more than 3 files")
    );
    let e = refused(
        &tar_gz(&[("a-long-name", tar::EntryType::Regular, b"")]),
        &small,
    );
    assert!(e.to_string().contains("a path of 11 bytes"), "{e}");
    // Zeros inflate far beyond 10:1.
    let bomb = tar_gz(&[("z", tar::EntryType::Regular, &vec![0u8; 512 << 10])]);
    let e = refused(&bomb, &small);
    assert!(
        matches!(&e, ArchiveError::Limit(m) if m.contains("compression bomb")),
        "{e}"
    );
    // Random bytes do not compress: the total stops them.
    let mut noise = vec![0u8; 2 << 20];
    let mut x: u64 = 88172645463325252;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let e = refused(&tar_gz(&[("n", tar::EntryType::Regular, &noise)]), &small);
    assert!(
        e.to_string()
            .contains("inflates to more than 1048576 bytes"),
        "{e}"
    );
    // A held file over its limit: refused whatever its header says.
    let held = tar_gz(&[("m", tar::EntryType::Regular, &[b'x'; 2000])]);
    let e = read_archive(held.as_slice(), &small, |p, size, d| {
        d.hold(p, size, 1000).map(drop)
    })
    .unwrap_err();
    assert!(e.to_string().contains("more than the 1000"), "{e}");
}

#[test]
fn a_header_claiming_more_than_there_is_allocates_nothing() {
    // A header saying 8 GiB, and no data: refused as truncated or over the limit, never
    // allocated.
    let mut h = tar::Header::new_gnu();
    h.set_path("envelopes/a/1.json").unwrap();
    h.set_size(8 << 30);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, h.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let e = verify_bytes(&bytes, &Trust::default()).unwrap_err();
    assert!(
        matches!(&e, ArchiveError::Limit(m) if m.contains("8589934592 bytes")),
        "{e}"
    );
    let mut h2 = h.clone();
    h2.set_path("report.html").unwrap();
    h2.set_cksum();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, h2.as_bytes()).unwrap();
    let e = verify_bytes(&gz.finish().unwrap(), &Trust::default()).unwrap_err();
    assert!(matches!(e, ArchiveError::Corrupt(_)), "{e}");
}

#[test]
fn json_tokens_are_bounded() {
    let mut long = b"{\"hosts\":[{\"agent_id\":\"".to_vec();
    long.extend(std::iter::repeat_n(b'a', archive::MAX_JSON_TOKEN + 1));
    long.extend_from_slice(b"\"}]}");
    let bytes = write_entries(&[("report.json".into(), long)]).unwrap();
    let e = verify_bytes(&bytes, &Trust::default()).unwrap_err();
    assert!(
        matches!(&e, ArchiveError::Limit(m) if m.contains("report.json holds a JSON string")),
        "{e}"
    );
}

#[test]
fn garbage_is_not_a_bundle() {
    assert!(matches!(
        verify_bytes(b"not gzip at all", &Trust::default()),
        Err(ArchiveError::NotGzip(_))
    ));
    let empty = write_entries(&[]).unwrap();
    let v = verify_bytes(&empty, &Trust::default()).unwrap();
    assert_eq!(v.outcome(), Outcome::Failed);
    assert!(v.text().contains("manifest.json: missing"), "{}", v.text());
}
