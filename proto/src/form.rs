//! The *form* of a DSSE envelope, and the wire names of delta uploads.
//!
//! Consecutive reports of one agent differ in a few fields, so both the collector's
//! store (`collector-server/src/store/codec.rs`) and the agent's upload
//! (`POST /v1/reports` sent by difference, `docs/proto.md`) compress an envelope
//! with zstd against an earlier one as a raw-content dictionary. They compress the
//! envelope's form, not the envelope: the form takes out the base64 of the DSSE
//! payload and puts in the decoded statement, so that zstd matches JSON against JSON
//! (a change of length early in a statement moves the 4-character base64 groups of
//! everything after it, which would defeat the dictionary). The base64 of an
//! accepted envelope is canonical, so encoding the statement again gives back the
//! same bytes; an envelope that does not split that way is kept whole in its form.
//! [`from_form`] gives back the envelope byte for byte either way.
//!
//! Pure functions; compression itself is left to the agent and the collector.

use base64::Engine as _;

use crate::BASE64;
use crate::envelope::Envelope;
use crate::error::ProtoError;

/// Form tag: the envelope follows, verbatim.
pub const FORM_WHOLE: u8 = 0;
/// Form tag: `start` (u32 LE), statement length (u32 LE), the envelope up to the
/// payload's base64, the decoded statement, the envelope after the base64.
pub const FORM_SPLIT: u8 = 1;
/// How many bytes a form is longer than its envelope at most (tag and header).
pub const FORM_OVERHEAD: usize = 9;

/// `Content-Type` of a report sent by difference: a zstd frame (with its content
/// size) of the envelope's form, compressed with the form of the base report as a
/// raw-content dictionary.
pub const DELTA_CONTENT_TYPE: &str = "application/vnd.attest.envelope-delta+zstd";
/// Request header naming the base of a delta upload ([`DeltaBase`]).
pub const DELTA_BASE_HEADER: &str = "x-attest-delta-base";
/// Response header by which a collector says it takes reports sent by difference;
/// its value is [`DELTA_ACCEPT_VALUE`].
pub const DELTA_ACCEPT_HEADER: &str = "x-attest-accept-delta";
/// The value of [`DELTA_ACCEPT_HEADER`]: the one delta encoding there is.
pub const DELTA_ACCEPT_VALUE: &str = "zstd-form";

/// The base a delta upload is made against: a report of the same agent the collector
/// acknowledged, by `seq` and the SHA-256 of its payload (lowercase hex, as in the
/// receipt). On the wire: `<agent_id> <seq> <payload_sha256>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaBase {
    pub agent_id: String,
    pub seq: u64,
    pub payload_sha256: String,
}

impl DeltaBase {
    /// The header value.
    pub fn to_header(&self) -> String {
        format!("{} {} {}", self.agent_id, self.seq, self.payload_sha256)
    }

    /// Parses a header value; `None` when it is not three well-formed parts.
    pub fn parse(value: &str) -> Option<DeltaBase> {
        let mut parts = value.split(' ');
        let agent_id = parts.next()?;
        let seq = parts.next()?;
        let sha = parts.next()?;
        if parts.next().is_some()
            || agent_id.is_empty()
            || agent_id.len() > 128
            || !agent_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            || seq.is_empty()
            || !seq.bytes().all(|b| b.is_ascii_digit())
            || sha.len() != 64
            || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        Some(DeltaBase {
            agent_id: agent_id.to_owned(),
            seq: seq.parse().ok()?,
            payload_sha256: sha.to_owned(),
        })
    }
}

/// A form that does not give back an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an envelope form: {0}")]
pub struct FormError(&'static str);

/// The form of an envelope: see the module docs. Lossless: [`from_form`] gives the
/// envelope back.
pub fn to_form(envelope: &[u8]) -> Vec<u8> {
    split(envelope).unwrap_or_else(|| {
        let mut out = Vec::with_capacity(envelope.len() + 1);
        out.push(FORM_WHOLE);
        out.extend_from_slice(envelope);
        out
    })
}

/// [`to_form`] of an envelope that decoded (strictly, [`crate::Envelope::from_json`])
/// to `payload`, without parsing it or decoding its base64 again: the payload's
/// base64 is found after the `"payload"` key, and used only where it is exactly
/// [`BASE64`] of `payload`; anything else falls back to [`to_form`]. The same bytes
/// as [`to_form`] either way (an envelope of the strict decoding has one `"payload"`
/// key, and a JSON string cannot hold `"` unescaped, so the key is the member's).
pub fn to_form_of(envelope: &[u8], payload: &[u8]) -> Vec<u8> {
    const KEY: &[u8] = b"\"payload\"";
    let encoded = BASE64.encode(payload);
    let found = envelope
        .windows(KEY.len())
        .position(|w| w == KEY)
        .and_then(|at| {
            let mut i = at + KEY.len();
            let skip = |i: &mut usize| {
                while envelope
                    .get(*i)
                    .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                {
                    *i += 1;
                }
            };
            skip(&mut i);
            (envelope.get(i) == Some(&b':')).then_some(())?;
            i += 1;
            skip(&mut i);
            (envelope.get(i) == Some(&b'"')).then_some(())?;
            let start = i + 1;
            let end = start.checked_add(encoded.len())?;
            (envelope.get(start..end)? == encoded.as_bytes() && envelope.get(end) == Some(&b'"'))
                .then_some((start, end))
        });
    let Some((start, end)) = found else {
        return to_form(envelope);
    };
    split_at(envelope, start, end, payload).unwrap_or_else(|| to_form(envelope))
}

/// The split form of `envelope` whose bytes `start..end` are the base64 of
/// `statement`.
fn split_at(envelope: &[u8], start: usize, end: usize, statement: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(envelope.len() + FORM_OVERHEAD);
    out.push(FORM_SPLIT);
    out.extend_from_slice(&u32::try_from(start).ok()?.to_le_bytes());
    out.extend_from_slice(&u32::try_from(statement.len()).ok()?.to_le_bytes());
    out.extend_from_slice(envelope.get(..start)?);
    out.extend_from_slice(statement);
    out.extend_from_slice(envelope.get(end..)?);
    Some(out)
}

fn split(envelope: &[u8]) -> Option<Vec<u8>> {
    #[derive(serde::Deserialize)]
    struct Env<'a> {
        #[serde(borrow)]
        payload: &'a str,
    }
    let env: Env<'_> = serde_json::from_slice(envelope).ok()?;
    let start = (env.payload.as_ptr() as usize).checked_sub(envelope.as_ptr() as usize)?;
    let end = start.checked_add(env.payload.len())?;
    if envelope.get(start..end)? != env.payload.as_bytes() {
        return None;
    }
    let statement = BASE64.decode(env.payload).ok()?;
    if BASE64.encode(&statement).as_bytes() != env.payload.as_bytes() {
        return None;
    }
    split_at(envelope, start, end, &statement)
}

/// What a form holds: an envelope kept whole, or split around its statement.
enum Parts<'a> {
    Whole(&'a [u8]),
    Split {
        prefix: &'a [u8],
        statement: &'a [u8],
        suffix: &'a [u8],
    },
}

fn parts(form: &[u8]) -> Result<Parts<'_>, FormError> {
    match form.split_first() {
        Some((&FORM_WHOLE, rest)) => Ok(Parts::Whole(rest)),
        Some((&FORM_SPLIT, rest)) => {
            let word = |at: usize| -> Result<usize, FormError> {
                let b: [u8; 4] = rest
                    .get(at..at + 4)
                    .and_then(|s| s.try_into().ok())
                    .ok_or(FormError("header cut short"))?;
                usize::try_from(u32::from_le_bytes(b)).map_err(|_| FormError("length too large"))
            };
            let (start, len) = (word(0)?, word(4)?);
            let body = rest.get(8..).ok_or(FormError("header cut short"))?;
            Ok(Parts::Split {
                prefix: body.get(..start).ok_or(FormError("prefix cut short"))?,
                statement: body
                    .get(start..start.saturating_add(len))
                    .ok_or(FormError("statement cut short"))?,
                suffix: body
                    .get(start.saturating_add(len)..)
                    .ok_or(FormError("suffix cut short"))?,
            })
        }
        Some(_) => Err(FormError("unknown tag")),
        None => Err(FormError("empty")),
    }
}

/// The envelope a form holds.
pub fn from_form(form: &[u8]) -> Result<Vec<u8>, FormError> {
    Ok(match parts(form)? {
        Parts::Whole(envelope) => envelope.to_vec(),
        Parts::Split {
            prefix,
            statement,
            suffix,
        } => {
            let encoded = base64::encoded_len(statement.len(), true)
                .ok_or(FormError("statement too large"))?;
            let mut out = Vec::with_capacity(prefix.len() + encoded + suffix.len());
            out.extend_from_slice(prefix);
            out.resize(prefix.len() + encoded, 0);
            // The same standard, padded base64 as `BASE64`, in SIMD: the collector
            // rebuilds every envelope sent by difference here, and the scalar encoder
            // was 2.7 % of its CPU (docs/benchmarks.md). `encoded` is exactly the
            // padded length, the room `encode` fills.
            let written = base64_simd::STANDARD
                .encode(
                    statement,
                    base64_simd::Out::from_slice(&mut out[prefix.len()..]),
                )
                .len();
            if written != encoded {
                return Err(FormError("statement too large"));
            }
            out.extend_from_slice(suffix);
            out
        }
    })
}

/// The envelope a form holds ([`from_form`]), ready to be decoded
/// ([`Opened::decode`]).
pub struct Opened<'a> {
    /// The envelope, byte for byte.
    pub envelope: Vec<u8>,
    /// Where the form's statement was put back: its offset in `envelope`, and the
    /// statement.
    split: Option<(usize, &'a [u8])>,
}

impl Opened<'_> {
    /// [`Envelope::from_json`] of the envelope, with the same result. When the form
    /// held the statement and the strict decoding finds the payload's base64 exactly
    /// where the statement was put back, the payload is the form's statement: its
    /// base64, just encoded, is not decoded again.
    pub fn decode(&self) -> Result<Envelope, ProtoError> {
        Envelope::from_json_split(&self.envelope, self.split)
    }
}

/// The envelope a form holds, for the collector's handler of a report sent by
/// difference: [`from_form`], and a cheaper [`Envelope::from_json`] of it.
pub fn open_form(form: &[u8]) -> Result<Opened<'_>, FormError> {
    let envelope = from_form(form)?;
    let split = match parts(form)? {
        Parts::Split {
            prefix, statement, ..
        } => Some((prefix.len(), statement)),
        Parts::Whole(_) => None,
    };
    Ok(Opened { envelope, split })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope_bytes(statement: &[u8]) -> Vec<u8> {
        format!(
            r#"{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[{{"keyid":"k","sig":"c2ln"}}]}}"#,
            BASE64.encode(statement)
        )
        .into_bytes()
    }

    fn envelope(statement: &str, sig: &str) -> Vec<u8> {
        format!(
            r#"{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[{{"keyid":"k","sig":"{sig}"}}]}}"#,
            BASE64.encode(statement)
        )
        .into_bytes()
    }

    #[test]
    fn forms_round_trip_split_and_whole() {
        let e = envelope(r#"{"a":1}"#, "c2ln");
        let f = to_form(&e);
        assert_eq!(f[0], FORM_SPLIT);
        assert!(f.len() <= e.len() + FORM_OVERHEAD);
        assert!(
            f.windows(7).any(|w| w == br#"{"a":1}"#),
            "the statement is in the form as JSON"
        );
        assert_eq!(from_form(&f).unwrap(), e);
        for odd in [&b"not json"[..], b"", br#"{"payload":"not base64!"}"#] {
            let f = to_form(odd);
            assert_eq!(f[0], FORM_WHOLE);
            assert_eq!(from_form(&f).unwrap(), odd);
        }
        // Non-canonical base64 (trailing bits set) is kept whole, not normalised.
        let f = to_form(br#"{"payload":"YR=="}"#);
        assert_eq!(f[0], FORM_WHOLE);
        assert!(from_form(&[FORM_SPLIT, 9, 0, 0, 0, 1, 0, 0, 0]).is_err());
        assert!(from_form(&[FORM_SPLIT, 0, 0, 0, 0, 255, 255, 255, 255]).is_err());
        assert!(from_form(&[7]).is_err());
        assert!(from_form(&[]).is_err());
    }

    #[test]
    fn delta_base_header_round_trips_and_refuses_junk() {
        let base = DeltaBase {
            agent_id: "agt_0123abcd".into(),
            seq: 42,
            payload_sha256: "ab".repeat(32),
        };
        assert_eq!(DeltaBase::parse(&base.to_header()), Some(base.clone()));
        for bad in [
            "",
            "agt_x 1",
            &format!("agt_x 1 {} extra", "ab".repeat(32)),
            &format!("agt_x -1 {}", "ab".repeat(32)),
            &format!("agt_x 1 {}", "AB".repeat(32)),
            &format!("agt_x 1 {}", "ab".repeat(31)),
            &format!("agt/x 1 {}", "ab".repeat(32)),
            &format!("agt_x 99999999999999999999999 {}", "ab".repeat(32)),
        ] {
            assert_eq!(DeltaBase::parse(bad), None, "{bad}");
        }
    }

    /// The form made from the decoded payload is [`to_form`]'s, byte for byte (the
    /// agent and the collector must hold the same base forms), whatever the member
    /// order, white space, escapes or the payload's length.
    #[test]
    fn the_form_of_a_decoded_envelope_is_to_form() {
        let sig = r#""signatures":[{"keyid":"k","sig":"c2ln"}]"#;
        for statement in ["", "x", "ab", r#"{"a":1}"#, &"z".repeat(1000)] {
            let b64 = BASE64.encode(statement);
            let ty = r#""payloadType":"application/vnd.in-toto+json""#;
            for text in [
                format!(r#"{{{ty},"payload":"{b64}",{sig}}}"#),
                format!(r#"{{ "payload" : "{b64}" , {ty}, {sig} }}"#),
                format!("{{{sig},\n\t{ty},\r\n\"payload\":\n\"{b64}\"}}"),
                format!(r#"{{{ty},"p\u0061yload":"{b64}",{sig}}}"#),
                format!(r#"{{"payloadType":"\"payload\":\"","payload":"{b64}",{sig}}}"#),
            ] {
                assert_eq!(
                    to_form_of(text.as_bytes(), statement.as_bytes()),
                    to_form(text.as_bytes()),
                    "{text}"
                );
                assert_eq!(
                    from_form(&to_form_of(text.as_bytes(), statement.as_bytes())).unwrap(),
                    text.as_bytes()
                );
            }
        }
    }

    /// The envelope of a split form whose statement went back into the string at
    /// `target` (0 the payload, 1 the key id, 2 the payload type), the other strings
    /// holding `other`.
    fn split_in(statement: &[u8], other: &str, target: usize) -> (Vec<u8>, Vec<u8>) {
        let b64 = BASE64.encode(statement);
        let pick = |i: usize| if i == target { b64.as_str() } else { other };
        let parts = [
            r#"{"payloadType":""#.to_owned(),
            pick(2).to_owned(),
            r#"","payload":""#.to_owned(),
            pick(0).to_owned(),
            r#"","signatures":[{"keyid":""#.to_owned(),
            pick(1).to_owned(),
            format!(r#"","sig":"{}"}}]}}"#, BASE64.encode([7u8; 64])),
        ];
        // The statement's string is part 3 (payload), 5 (key id) or 1 (type).
        let at = [3, 5, 1][target];
        let start: usize = parts[..at].iter().map(String::len).sum();
        let text = parts.concat();
        let form = split_at(text.as_bytes(), start, start + b64.len(), statement).unwrap();
        (text.into_bytes(), form)
    }

    #[test]
    fn an_opened_form_decodes_as_its_envelope() {
        // A real envelope, split at its payload: the statement is taken from the form.
        let statement = br#"{"_type":"x"}"#;
        let text = envelope(
            std::str::from_utf8(statement).unwrap(),
            &BASE64.encode([1u8; 64]),
        );
        let form = to_form(&text);
        assert_eq!(form[0], FORM_SPLIT);
        let opened = open_form(&form).unwrap();
        assert_eq!(opened.envelope, text);
        let decoded = opened.decode().unwrap();
        assert_eq!(decoded, Envelope::from_json(&text).unwrap());
        assert_eq!(decoded.payload, statement);
        // A form split at another string than the payload's (the key id here, with an
        // empty payload): the envelope's own payload, not the form's statement.
        let (text, form) = split_in(statement, "", 1);
        let decoded = open_form(&form).unwrap().decode().unwrap();
        assert_eq!(decoded, Envelope::from_json(&text).unwrap());
        assert_eq!(decoded.payload, b"");
        assert_eq!(decoded.signatures[0].keyid, BASE64.encode(statement));
        // A whole form, and errors: the same as decoding the envelope.
        for odd in [&b"not json"[..], br#"{"payload":"YR=="}"#] {
            let form = to_form(odd);
            let opened = open_form(&form).unwrap();
            assert_eq!(opened.decode(), Envelope::from_json(odd));
            assert!(opened.decode().is_err());
        }
    }

    proptest::proptest! {
        /// Wherever a form puts its statement back, the opened envelope decodes as
        /// [`Envelope::from_json`] decodes it, error or not.
        #[test]
        fn opened_forms_decode_as_from_json(
            statement in proptest::collection::vec(0u8..=255, 0..200),
            other in "[A-Za-z0-9+/=]{0,12}",
            target in 0usize..3,
        ) {
            let (text, form) = split_in(&statement, &other, target);
            let opened = open_form(&form).unwrap();
            proptest::prop_assert_eq!(&opened.envelope, &text);
            proptest::prop_assert_eq!(opened.decode(), Envelope::from_json(&text));
        }

        /// Random statements in a canonical envelope: the same form as [`to_form`].
        #[test]
        fn to_form_of_agrees_with_to_form(statement in proptest::collection::vec(0u8..=255, 0..300)) {
            let text = envelope_bytes(&statement);
            proptest::prop_assert_eq!(to_form_of(&text, &statement), to_form(&text));
        }

        #[test]
        fn from_form_never_panics(bytes in proptest::collection::vec(0u8..=255, 0..64)) {
            let _ = from_form(&bytes);
        }
    }
}
