//! The reader on hand-made bytes (every structure), on the writer's hives (clean
//! and dirty), on hostile bytes, and against hivex, an independent implementation.

use super::log::{self, SEED, marvin32};
use super::writer::{self, Tree};
use super::*;

/// Hive bins data assembled cell by cell, independently of the writer.
struct Hand {
    data: Vec<u8>,
}

fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

impl Hand {
    fn new() -> Hand {
        let mut data = b"hbin".to_vec();
        data.extend([0u8; 28]);
        Hand { data }
    }

    /// An allocated cell holding `payload`; its offset.
    fn cell(&mut self, payload: &[u8]) -> u32 {
        let at = self.data.len() as u32;
        let size = (payload.len() + 4).div_ceil(8) * 8;
        self.data.extend((-(size as i32)).to_le_bytes());
        self.data.extend(payload);
        self.data.resize(at as usize + size, 0);
        at
    }

    /// The file: base block (sequence numbers `seq`), then the one hive bin.
    fn file(mut self, root: u32, seq: (u32, u32), minor: u32) -> Vec<u8> {
        let used = self.data.len();
        let size = used.div_ceil(4096).max(1) * 4096;
        self.data.resize(size, 0);
        if size > used {
            self.data[used..used + 4].copy_from_slice(&le32((size - used) as u32));
        }
        self.data[8..12].copy_from_slice(&le32(size as u32));
        let mut out = base(seq, 0, minor, root, size as u32);
        out.extend(self.data);
        out
    }
}

fn base(seq: (u32, u32), file_type: u32, minor: u32, root: u32, size: u32) -> Vec<u8> {
    let mut b = vec![0u8; BASE_BLOCK];
    b[0..4].copy_from_slice(b"regf");
    b[4..8].copy_from_slice(&le32(seq.0));
    b[8..12].copy_from_slice(&le32(seq.1));
    b[20..24].copy_from_slice(&le32(1));
    b[24..28].copy_from_slice(&le32(minor));
    b[28..32].copy_from_slice(&le32(file_type));
    b[32..36].copy_from_slice(&le32(1));
    b[36..40].copy_from_slice(&le32(root));
    b[40..44].copy_from_slice(&le32(size));
    let c = checksum(&b).unwrap();
    b[508..512].copy_from_slice(&le32(c));
    b
}

/// An `nk` record.
fn nk(name: &[u8], latin1: bool, subkeys: (u32, u32), values: (u32, u32)) -> Vec<u8> {
    let mut b = vec![0u8; 76];
    b[0..2].copy_from_slice(b"nk");
    b[2..4].copy_from_slice(&(if latin1 { 0x20u16 } else { 0 }).to_le_bytes());
    b[20..24].copy_from_slice(&le32(subkeys.0));
    b[28..32].copy_from_slice(&le32(subkeys.1));
    b[36..40].copy_from_slice(&le32(values.0));
    b[40..44].copy_from_slice(&le32(values.1));
    b[72..74].copy_from_slice(&(name.len() as u16).to_le_bytes());
    b.extend(name);
    b
}

/// A `vk` record.
fn vk(name: &[u8], latin1: bool, size: u32, data: u32, kind: u32) -> Vec<u8> {
    let mut b = b"vk".to_vec();
    b.extend((name.len() as u16).to_le_bytes());
    b.extend(le32(size));
    b.extend(le32(data));
    b.extend(le32(kind));
    b.extend(u16::from(latin1).to_le_bytes());
    b.extend([0, 0]);
    b.extend(name);
    b
}

fn list(sig: &[u8; 2], entries: &[u32], stride: usize) -> Vec<u8> {
    let mut b = sig.to_vec();
    b.extend((entries.len() as u16).to_le_bytes());
    for e in entries {
        b.extend(le32(*e));
        if stride == 8 {
            b.extend(le32(0));
        }
    }
    b
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Five keys under the root through every kind of subkey list (`ri` over an `li`
/// and an `lh`; an `lf`), a UTF-16 key name, and values: inline, in a cell, big
/// data in two segments, a UTF-16 name, the default value.
fn hand_hive(minor: u32) -> Vec<u8> {
    let mut h = Hand::new();
    let a = h.cell(&nk(b"Alpha", true, (0, NO_OFFSET), (0, NO_OFFSET)));
    let b = h.cell(&nk(&utf16le("Bêta"), false, (0, NO_OFFSET), (0, NO_OFFSET)));
    let c = h.cell(&nk(b"Gamma", true, (0, NO_OFFSET), (0, NO_OFFSET)));
    // Values of Gamma's sibling "Values".
    let inline = h.cell(&vk(b"Inline", true, 0x8000_0004, 4460, types::REG_DWORD));
    let text = h.cell(&utf16le("26100\0"));
    let sz = h.cell(&vk(b"CurrentBuild", true, 12, text, types::REG_SZ));
    let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let s1 = h.cell(&big[..MAX_SEGMENT]);
    let s2 = h.cell(&big[MAX_SEGMENT..]);
    let segs = h.cell(&[le32(s1), le32(s2)].concat());
    let mut db = b"db".to_vec();
    db.extend(2u16.to_le_bytes());
    db.extend(le32(segs));
    let db = h.cell(&db);
    let bigv = h.cell(&vk(b"Big", true, 20_000, db, types::REG_BINARY));
    let wide = h.cell(&vk(
        &utf16le("Größe"),
        false,
        0x8000_0001,
        7,
        types::REG_BINARY,
    ));
    let default = h.cell(&vk(b"", true, 0x8000_0000, 0, types::REG_NONE));
    let vlist = h.cell(&[inline, sz, bigv, wide, default].map(le32).concat());
    let v = h.cell(&nk(b"Values", true, (0, NO_OFFSET), (5, vlist)));
    let d = h.cell(&nk(b"Delta", true, (0, NO_OFFSET), (0, NO_OFFSET)));
    let li = h.cell(&list(b"li", &[a, b], 4));
    let lh = h.cell(&list(b"lh", &[c, v], 8));
    let ri = h.cell(&list(b"ri", &[li, lh], 4));
    let lf = h.cell(&list(b"lf", &[d], 8));
    let mid = h.cell(&nk(b"Mid", true, (1, lf), (0, NO_OFFSET)));
    // Gamma's key list as an ri of its own, never reached (ri is one level).
    let _unused = h.cell(&list(b"ri", &[ri], 4));
    // The root: an ri over the two lists above and one more li holding Mid.
    let li2 = h.cell(&list(b"li", &[mid], 4));
    let root_list = h.cell(&list(b"ri", &[li, lh, li2], 4));
    let root = h.cell(&nk(b"ROOT", true, (5, root_list), (0, NO_OFFSET)));
    h.file(root, (3, 3), minor)
}

#[test]
fn every_structure_reads_from_hand_made_bytes() {
    let bytes = hand_hive(5);
    let hive = Hive::parse(&bytes, &[]).unwrap();
    assert!(!hive.recovered());
    assert_eq!(
        hive.root().subkey_names().unwrap(),
        ["Alpha", "Bêta", "Gamma", "Values", "Mid"]
    );
    assert_eq!(
        hive.key("MID\\delta").unwrap().unwrap().name().unwrap(),
        "Delta"
    );
    assert!(hive.key("Mid\\Epsilon").unwrap().is_none());
    let values = hive.key("values").unwrap().unwrap();
    let all = values.values().unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(
        all[0].decode().unwrap(),
        crate::host::RegistryValue::Dword(4460)
    );
    assert_eq!(
        values
            .value("currentbuild")
            .unwrap()
            .unwrap()
            .decode()
            .unwrap(),
        crate::host::RegistryValue::String("26100".into())
    );
    let big = values.value("BIG").unwrap().unwrap();
    assert_eq!(big.data.len(), 20_000);
    assert_eq!(big.data[16_344], (16_344 % 251) as u8);
    // Windows upcases character by character: ß stays ß, never SS.
    assert_eq!(values.value("GRÖSSE").unwrap(), None);
    assert!(values.value("GRÖßE").unwrap().is_some());
    assert_eq!(values.value("größe").unwrap().unwrap().data, [7]);
    assert_eq!(values.value("").unwrap().unwrap().kind, types::REG_NONE);
}

#[test]
fn big_data_is_only_read_as_segments_above_minor_version_3() {
    // Minor version 3 has no db records: the data offset is read as one cell,
    // which is a db record of 8 bytes, shorter than the value.
    let hive = Hive::parse(&hand_hive(3), &[]).unwrap();
    let values = hive.key("Values").unwrap().unwrap();
    assert!(matches!(
        values.value("Big"),
        Err(HiveError::Corrupt {
            what: "value data beyond its cell",
            ..
        })
    ));
}

#[test]
fn the_base_block_is_checked() {
    let good = hand_hive(5);
    let b = BaseBlock::parse(&good).unwrap();
    assert_eq!(
        (b.primary_sequence, b.secondary_sequence, b.minor_version),
        (3, 3, 5)
    );
    assert!(!b.is_dirty());
    let mut bad = good.clone();
    bad[100] ^= 1;
    assert_eq!(BaseBlock::parse(&bad), Err(HiveError::Checksum));
    let mut sig = good.clone();
    sig[0] = b'R';
    assert!(matches!(
        BaseBlock::parse(&sig),
        Err(HiveError::NotAHive(_))
    ));
    assert!(matches!(
        Hive::parse(&good[..4096], &[]),
        Err(HiveError::NotAHive(_))
    ));
    assert!(matches!(
        BaseBlock::parse(&good[..300]),
        Err(HiveError::NotAHive(_))
    ));
    // The XOR-32 checksum's two special cases.
    let mut zero = vec![0u8; 512];
    assert_eq!(checksum(&zero), Some(1));
    zero[0..4].copy_from_slice(&[0xFF; 4]);
    assert_eq!(checksum(&zero), Some(0xFFFF_FFFE));
}

#[test]
fn values_decode_by_type() {
    use crate::host::RegistryValue as V;
    let d = |kind, data: &[u8]| decode("x", kind, data);
    assert_eq!(d(types::REG_DWORD, &[1, 0, 0, 0]), Ok(V::Dword(1)));
    assert_eq!(
        d(types::REG_DWORD_BIG_ENDIAN, &[0, 0, 0, 1]),
        Ok(V::Dword(1))
    );
    assert_eq!(
        d(types::REG_QWORD, &[0, 0, 0, 0, 1, 0, 0, 0]),
        Ok(V::Qword(1 << 32))
    );
    assert_eq!(
        d(types::REG_EXPAND_SZ, &utf16le("%SystemRoot%\0junk")),
        Ok(V::String("%SystemRoot%".into()))
    );
    assert_eq!(
        d(types::REG_MULTI_SZ, &utf16le("a\0bc\0\0stale\0")),
        Ok(V::MultiString(vec!["a".into(), "bc".into()]))
    );
    assert_eq!(d(types::REG_NONE, &[9]), Ok(V::Binary(vec![9])));
    assert_eq!(
        d(types::REG_DWORD, &[1, 2]),
        Err(HiveError::BadValue {
            name: "x".into(),
            kind: "REG_DWORD",
            len: 2
        })
    );
    assert!(d(types::REG_QWORD, &[0; 4]).is_err());
}

#[test]
fn marvin32_matches_the_published_test_vectors() {
    // .NET's Marvin tests, seed 0x004FB61A001BDBCC.
    let seed = 0x004F_B61A_001B_DBCC;
    assert_eq!(marvin32(seed, &[0xAF]), 0x48E7_3FC7_7D75_DDC1);
    assert_eq!(marvin32(seed, &[0xE7, 0x0F]), 0xB5F6_E1FC_485D_BFF8);
    assert_eq!(marvin32(seed, &[0x37, 0xF4, 0x95]), 0xF0B0_7C78_9B8C_F7E8);
    assert_ne!(marvin32(SEED, b"a"), marvin32(SEED, b"b"));
}

const SOFTWARE: &str = r#"Windows Registry Editor Version 5.00

; The identity of the OS.
[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion]
"CurrentBuild"="26100"
"UBR"=dword:0000116c
"EditionID"="Enterprise"
"Path"=hex(2):25,00,53,00,79,00,73,00,74,00,65,00,6d,00,52,00,6f,00,6f,00,74,00,\
  25,00,00,00
"Multi"=hex(7):61,00,00,00,62,00,63,00,00,00,00,00
"Big"=hex(b):00,00,00,00,01,00,00,00
"Blob"=hex:de,ad,be,ef,01
"Quote \"x\""="a \\ b \" c"
@="default"

[HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows Defender]
"DisableAntiSpyware"=dword:00000000

[HKEY_LOCAL_MACHINE\SOFTWARE\Classes\Ünïcode ключ]
"Ω"=hex(0):
"#;

const PREFIX: &str = "HKEY_LOCAL_MACHINE\\SOFTWARE";

fn software() -> Tree {
    Tree::from_reg(SOFTWARE, PREFIX).unwrap()
}

/// Every key and value of a hive, as a tree (upcased names as keys).
fn read_tree(hive: &Hive) -> Tree {
    Tree::read(hive).unwrap()
}

#[test]
fn the_reader_reads_back_what_the_writer_wrote() {
    use crate::host::RegistryValue as V;
    let tree = software();
    let hive = Hive::parse(&writer::hive(&tree), &[]).unwrap();
    assert_eq!(read_tree(&hive), tree);
    let cv = hive
        .key("microsoft\\WINDOWS NT\\currentversion")
        .unwrap()
        .unwrap();
    let get = |n: &str| cv.value(n).unwrap().unwrap().decode().unwrap();
    assert_eq!(get("ubr"), V::Dword(4460));
    assert_eq!(get("CurrentBuild"), V::String("26100".into()));
    assert_eq!(get("path"), V::String("%SystemRoot%".into()));
    assert_eq!(get("MULTI"), V::MultiString(vec!["a".into(), "bc".into()]));
    assert_eq!(get("big"), V::Qword(1 << 32));
    assert_eq!(get("blob"), V::Binary(vec![0xde, 0xad, 0xbe, 0xef, 1]));
    assert_eq!(get("quote \"X\""), V::String("a \\ b \" c".into()));
    assert_eq!(get(""), V::String("default".into()));
    let uni = hive.key("CLASSES\\ünïcode КЛЮЧ").unwrap().unwrap();
    assert_eq!(uni.name().unwrap(), "Ünïcode ключ");
    assert_eq!(uni.value("ω").unwrap().unwrap().kind, types::REG_NONE);
}

#[test]
fn big_values_round_trip_through_segments() {
    let hex: Vec<String> = (0..40_000u32).map(|i| format!("{:02x}", i % 253)).collect();
    let text = format!("[{PREFIX}\\K]\n\"Large\"=hex:{}\n", hex.join(","));
    let tree = Tree::from_reg(&text, PREFIX).unwrap();
    let hive = Hive::parse(&writer::hive(&tree), &[]).unwrap();
    let v = hive
        .key("k")
        .unwrap()
        .unwrap()
        .value("large")
        .unwrap()
        .unwrap();
    assert_eq!(v.data.len(), 40_000);
    assert!(
        v.data
            .iter()
            .enumerate()
            .all(|(i, b)| *b == (i % 253) as u8)
    );
}

#[test]
fn reg_text_errors_name_the_line() {
    let err = Tree::from_reg("[HKEY_LOCAL_MACHINE\\SYSTEM\\X]\n", PREFIX).unwrap_err();
    assert_eq!(err.line, 1);
    let err = Tree::from_reg("\n\"v\"=dword:1\n", PREFIX).unwrap_err();
    assert_eq!(
        (err.line, err.message.as_str()),
        (2, "a value outside a section")
    );
    let err = Tree::from_reg(&format!("[{PREFIX}\\A]\n\"v\"=qword:1\n"), PREFIX).unwrap_err();
    assert!(err.message.contains("unknown value data"), "{err}");
}

const CHANGES: &str = r#"Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion]
"UBR"=dword:00001100
"Blob"=-

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\New Key]
"Added"="yes"

[-HKEY_LOCAL_MACHINE\SOFTWARE\Policies]
"#;

fn changed() -> Tree {
    let mut t = software();
    t.apply(CHANGES, PREFIX).unwrap();
    t
}

#[test]
fn a_dirty_hive_with_its_log_reads_the_new_values() {
    use crate::host::RegistryValue as V;
    let (primary, log1) = writer::dirty_hive(&software(), &changed());
    assert!(BaseBlock::parse(&primary).unwrap().is_dirty());
    for logs in [
        vec![&log1[..]],
        vec![&[][..], &log1[..]],
        vec![&log1[..], &b"junk"[..]],
    ] {
        let hive = Hive::parse(&primary, &logs).unwrap();
        assert!(hive.recovered());
        assert_eq!(read_tree(&hive), changed());
        let cv = hive
            .key("Microsoft\\Windows NT\\CurrentVersion")
            .unwrap()
            .unwrap();
        assert_eq!(
            cv.value("UBR").unwrap().unwrap().decode().unwrap(),
            V::Dword(4352)
        );
        assert_eq!(cv.value("Blob").unwrap(), None);
        assert!(hive.key("Policies").unwrap().is_none());
    }
}

#[test]
fn a_dirty_hive_without_a_usable_log_is_refused() {
    let (primary, log1) = writer::dirty_hive(&software(), &changed());
    let dirty = |logs: &[&[u8]]| match Hive::parse(&primary, logs) {
        Err(HiveError::Dirty(why)) => why,
        other => panic!("{other:?}"),
    };
    assert_eq!(dirty(&[]), "no valid log entries");
    // A page byte changed: the entry's hash no longer matches.
    let mut bad = log1.clone();
    let last = bad.len() - 600;
    bad[last] ^= 0xFF;
    assert_eq!(dirty(&[&bad]), "no valid log entries");
    // A good entry, but for another write than the one the primary file misses.
    let mut other = log1[..512].to_vec();
    other.extend(writer::log_entry(9, 4096, &[(0, &[0u8; 4096][..])]));
    assert_eq!(dirty(&[&other]), "no log entry continues sequence number 7");
    // The log's base block copy damaged: its entries are not trusted.
    let mut base = log1.clone();
    base[40] ^= 1;
    assert_eq!(dirty(&[&base]), "no valid log entries");
    assert_eq!(
        HiveError::Dirty("no valid log entries".into()).to_string(),
        "dirty hive without usable logs: no valid log entries"
    );
}

#[test]
fn log_entries_apply_in_sequence_across_both_logs() {
    // Sequence 7 in LOG2, 8 in LOG1: both apply, in sequence order; an old entry
    // (6) is skipped.
    let old = software();
    let mid = changed();
    let mut last = mid.clone();
    last.apply(&format!("[{PREFIX}\\Third]\n\"N\"=dword:3\n"), PREFIX)
        .unwrap();
    let (primary, log_a) = writer::dirty_hive(&old, &mid);
    let (_, log_b) = writer::dirty_hive(&mid, &last);
    // Renumber log_b's entry as sequence 8 (and its base block copy).
    let entry = log::entries(&log_b).remove(0);
    // Its base block copy names its first entry, 6.
    let mut log1 = base((6, 6), 6, 5, 0, 0)[..512].to_vec();
    log1.extend(writer::log_entry(6, entry.hive_bins_size, &entry.pages));
    log1.extend(writer::log_entry(8, entry.hive_bins_size, &entry.pages));
    let hive = Hive::parse(&primary, &[&log1, &log_a]).unwrap();
    assert_eq!(read_tree(&hive), last);
    // Without the log holding 7, 8 cannot apply.
    assert!(matches!(
        Hive::parse(&primary, &[&log1]),
        Err(HiveError::Dirty(_))
    ));
}

#[test]
fn a_torn_base_block_is_replaced_by_the_logs_copy() {
    let (mut primary, log1) = writer::dirty_hive(&software(), &changed());
    primary[200] ^= 0x55;
    assert_eq!(Hive::parse(&primary, &[]).unwrap_err(), HiveError::Checksum);
    assert_eq!(
        Hive::parse(&primary, &[b"not a log"]).unwrap_err(),
        HiveError::Checksum
    );
    let hive = Hive::parse(&primary, &[&b"junk"[..], &log1]).unwrap();
    assert!(hive.recovered());
    assert_eq!(read_tree(&hive), changed());
}

#[test]
fn after_a_partial_reconcile_recovery_starts_at_the_logs_first_entry() {
    // The primary file misses sequence 7 on, but its log was rotated: the log
    // starts at 9 (its base block copy says so), and 7 and 8 are gone.
    let (primary, log_a) = writer::dirty_hive(&software(), &changed());
    let entry = log::entries(&log_a).remove(0);
    let mut log9 = base((9, 9), 6, 5, 0, 0)[..512].to_vec();
    log9.extend(writer::log_entry(9, entry.hive_bins_size, &entry.pages));
    let hive = Hive::parse(&primary, &[&log9]).unwrap();
    assert_eq!(read_tree(&hive), changed());
    // A log that says it starts at 9 but holds 10 only: nothing continues.
    let mut log10 = base((9, 9), 6, 5, 0, 0)[..512].to_vec();
    log10.extend(writer::log_entry(10, entry.hive_bins_size, &entry.pages));
    assert!(matches!(
        Hive::parse(&primary, &[&log10]),
        Err(HiveError::Dirty(_))
    ));
}

/// Reads everything a hive has, as a check could; errors are fine, panics not.
fn walk_all(bytes: &[u8], logs: &[&[u8]]) {
    let Ok(hive) = Hive::parse(bytes, logs) else {
        return;
    };
    let mut todo = vec![hive.root()];
    let mut seen = 0;
    while let Some(k) = todo.pop() {
        seen += 1;
        if seen > 10_000 {
            return;
        }
        let _ = k.name();
        if let Ok(values) = k.values() {
            for v in values {
                let _ = v.decode();
            }
        }
        let _ = k.value("UBR");
        let _ = k.subkey("CurrentVersion");
        if let Ok(subkeys) = k.subkeys() {
            todo.extend(subkeys);
        }
    }
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    fn samples() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (primary, log1) = writer::dirty_hive(&software(), &changed());
        (writer::hive(&changed()), primary, log1)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn mutated_hives_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..24),
            cut in any::<usize>(),
            which in 0usize..3,
        ) {
            let (clean, mut primary, mut log1) = samples();
            let mut clean = clean;
            let target = match which {
                0 => &mut clean,
                1 => &mut primary,
                _ => &mut log1,
            };
            for (at, byte) in &edits {
                let n = target.len();
                // Half the edits in the base block, cell headers and lists
                // (the first pages), half anywhere.
                let i = if at % 2 == 0 { at % n.min(8192) } else { at % n };
                target[i] = *byte;
            }
            if cut % 4 == 0 {
                let n = target.len();
                target.truncate(cut % n);
            }
            if which == 0 {
                // The checksum is fixed so that the mutations reach the cells.
                if clean.len() >= 512 {
                    let c = checksum(&clean).unwrap();
                    clean[508..512].copy_from_slice(&c.to_le_bytes());
                }
                walk_all(&clean, &[]);
            } else {
                walk_all(&primary, &[&log1]);
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..9000)) {
            walk_all(&bytes, &[&bytes]);
            let _ = log::entries(&bytes);
        }
    }

    #[test]
    fn lists_that_repeat_or_nest_are_errors() {
        // An ri that lists itself; an ri listing one li over and over; values
        // listing one value over and over; distinct values sharing one data cell.
        let mut h = Hand::new();
        let at = h.data.len() as u32;
        let ri = h.cell(&list(b"ri", &[at, at, at], 4));
        assert_eq!(ri, at);
        let key = h.cell(&nk(b"K", true, (0, NO_OFFSET), (0, NO_OFFSET)));
        let li = h.cell(&list(b"li", &[key], 4));
        let ri_same = h.cell(&list(b"ri", &[li; 200], 4));
        let data = h.cell(&[7u8; 2000]);
        let v = h.cell(&vk(b"V", true, 2000, data, types::REG_BINARY));
        let vlist = h.cell(&[le32(v); 300].concat());
        let shared: Vec<[u8; 4]> = (0..5)
            .map(|_| le32(h.cell(&vk(b"S", true, 2000, data, types::REG_BINARY))))
            .collect();
        let slist = h.cell(&shared.concat());
        let a = h.cell(&nk(b"A", true, (200, ri_same), (5, slist)));
        let root = h.cell(&nk(b"R", true, (3, ri), (300, vlist)));
        let bytes = h.file(root, (1, 1), 5);
        let hive = Hive::parse(&bytes, &[]).unwrap();
        let corrupt = |r: Result<usize, HiveError>| match r {
            Err(HiveError::Corrupt { what, .. }) => what,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            corrupt(hive.root().subkeys().map(|k| k.len())),
            "index root nested too deep"
        );
        assert_eq!(
            corrupt(hive.root().values().map(|v| v.len())),
            "value listed twice"
        );
        let a = Key {
            hive: &hive,
            offset: a,
        };
        assert_eq!(corrupt(a.subkeys().map(|k| k.len())), "subkey listed twice");
        // 5 x 2000 bytes out of a hive of 8 KiB: more data than there is.
        assert_eq!(corrupt(a.values().map(|v| v.len())), "value data repeats");
    }
}

/// The cross-check with hivex (Debian's `libhivex-bin`), an independent reader
/// and writer of hives: it reads the writer's hives as the `.reg` text says, and
/// what it writes into them the reader reads back. hivex is a test tool, never a
/// host source: it runs here, not through the source table.
#[allow(clippy::disallowed_methods)]
mod hivex {
    use std::ffi::OsStr;
    use std::path::Path;
    use std::process::Command;

    use super::*;

    /// True when hivexregedit can be started (`--help` itself exits 1).
    fn installed() -> bool {
        Command::new("hivexregedit").arg("--help").output().is_ok()
    }

    /// `hivexregedit <mode> --prefix PREFIX <hive> <last>`: its standard output.
    fn hivexregedit(mode: &str, hive: &Path, last: &OsStr) -> String {
        let out = Command::new("hivexregedit")
            .args([mode, "--prefix", PREFIX])
            .arg(hive)
            .arg(last)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn export(hive: &Path) -> String {
        hivexregedit("--export", hive, OsStr::new("\\"))
    }

    #[test]
    fn hivex_reads_the_writers_hives_and_writes_hives_the_reader_reads() {
        if !installed() {
            println!(
                "SKIP: hivexregedit is not installed (apt-get install libhivex-bin libwin-hivex-perl)"
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("SOFTWARE");
        std::fs::write(&path, writer::hive(&software())).unwrap();
        // hivex reads the writer's hive as the text says.
        let exported = Tree::from_reg(&export(&path), PREFIX).unwrap();
        let mut want = software();
        want.name = exported.name.clone();
        assert_eq!(exported, want);
        let got = Command::new("hivexget")
            .arg(&path)
            .arg("\\Microsoft\\Windows NT\\CurrentVersion")
            .arg("CurrentBuild")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&got.stdout).trim(), "26100");
        // hivex writes the changes (a deleted value and key included) into the
        // writer's hive; the reader reads them back.
        let merge = dir.path().join("changes.reg");
        std::fs::write(&merge, CHANGES).unwrap();
        hivexregedit("--merge", &path, merge.as_os_str());
        let written = std::fs::read(&path).unwrap();
        let hive = Hive::parse(&written, &[]).unwrap();
        let mut read = read_tree(&hive);
        read.name = changed().name;
        assert_eq!(read, changed());
        // And hivex agrees with itself about what it wrote.
        let again = Tree::from_reg(&export(&path), PREFIX).unwrap();
        assert_eq!(again.subkeys, changed().subkeys);
    }
}

#[test]
fn fixture_hives_are_made_from_a_directory_of_reg_files() {
    use crate::host::{Host, RegistryValue};
    let dir = tempfile::tempdir().unwrap();
    let hives = dir.path().join("hives");
    let root = dir.path().join("root");
    std::fs::create_dir_all(&hives).unwrap();
    std::fs::write(hives.join("SOFTWARE.reg"), SOFTWARE).unwrap();
    std::fs::write(hives.join("SOFTWARE.LOG1.reg"), CHANGES).unwrap();
    std::fs::write(
        hives.join("SYSTEM.reg"),
        "[HKEY_LOCAL_MACHINE\\SYSTEM\\Select]\n\"Current\"=dword:00000001\n",
    )
    .unwrap();
    std::fs::write(
        hives.join("NTUSER.alice.reg"),
        "[HKEY_CURRENT_USER\\Control Panel\\Desktop]\n\"ScreenSaveActive\"=\"1\"\n",
    )
    .unwrap();
    assert_eq!(
        writer::materialise(&hives, &root).unwrap(),
        [
            "/Users/alice/NTUSER.DAT",
            "/Windows/System32/config/SOFTWARE",
            "/Windows/System32/config/SOFTWARE.LOG1",
            "/Windows/System32/config/SYSTEM",
        ]
    );
    let host = Host::open(&root).unwrap();
    let cv = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion";
    assert_eq!(
        host.registry(cv, "UBR").unwrap(),
        RegistryValue::Dword(4352)
    );
    assert_eq!(
        host.registry("SYSTEM\\Select", "Current").unwrap(),
        RegistryValue::Dword(1)
    );
    assert_eq!(
        host.registry_user("alice", "Control Panel\\Desktop", "ScreenSaveActive")
            .unwrap(),
        RegistryValue::String("1".into())
    );
    std::fs::write(hives.join("BCD.reg"), "").unwrap();
    assert!(matches!(
        writer::materialise(&hives, &root),
        Err(writer::FixtureError::Name { .. })
    ));
}
