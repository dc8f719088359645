//! Compiles `data/catalogue.toml`, the one list of check ids, into static tables
//! (`$OUT_DIR/catalogue.rs`, included by `src/catalogue.rs`). A malformed catalogue
//! (a duplicate id, an unknown platform, an empty title) fails the build, so the
//! agent and the collector can never disagree about it at run time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    schema: String,
    version: u32,
    check: Vec<Check>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    id: String,
    title: String,
    #[serde(default)]
    not_applicable: BTreeMap<String, String>,
}

const PLATFORMS: [(&str, &str); 3] = [
    ("linux", "Linux"),
    ("macos", "Macos"),
    ("windows", "Windows"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rerun-if-changed=data/catalogue.toml");
    let text = std::fs::read_to_string("data/catalogue.toml")?;
    let file: File = toml::from_str(&text)?;
    if file.schema != "attest.catalogue/v1" {
        return Err(format!("data/catalogue.toml: schema {:?}", file.schema).into());
    }
    let mut seen = BTreeSet::new();
    let mut out = String::new();
    writeln!(out, "/// The catalogue's version (`version` in the file).")?;
    writeln!(out, "pub const VERSION: u32 = {};", file.version)?;
    writeln!(out, "/// Every check, in report order.")?;
    writeln!(out, "pub static CHECKS: &[CatalogueCheck] = &[")?;
    for check in &file.check {
        let id = check.id.as_str();
        let valid = id.split_once('.').is_some_and(|(area, name)| {
            !area.is_empty()
                && !name.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_')
        });
        if !valid {
            return Err(format!("data/catalogue.toml: id {id:?} is not area.name").into());
        }
        if !seen.insert(id) {
            return Err(format!("data/catalogue.toml: id {id:?} is listed twice").into());
        }
        if check.title.trim().is_empty() {
            return Err(format!("data/catalogue.toml: {id} has no title").into());
        }
        let mut na = String::new();
        for (platform, reason) in &check.not_applicable {
            let Some((_, variant)) = PLATFORMS.iter().find(|(name, _)| name == platform) else {
                return Err(
                    format!("data/catalogue.toml: {id}: unknown platform {platform:?}").into(),
                );
            };
            if reason.trim().is_empty() {
                return Err(
                    format!("data/catalogue.toml: {id}: empty reason for {platform}").into(),
                );
            }
            write!(na, "(Platform::{variant}, {reason:?}), ")?;
        }
        writeln!(
            out,
            "    CatalogueCheck {{ id: {id:?}, title: {:?}, not_applicable: &[{na}] }},",
            check.title
        )?;
    }
    writeln!(out, "];")?;
    let dest = PathBuf::from(std::env::var("OUT_DIR")?).join("catalogue.rs");
    std::fs::write(dest, out)?;
    Ok(())
}
