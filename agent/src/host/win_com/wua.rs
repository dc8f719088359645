//! `win.wua.snapshot`: the Windows Update Agent's offline search
//! (`IUpdateSearcher.Search`, `Online` false, so only the last scan's datastore is
//! read and nothing is downloaded) plus `IAutomaticUpdates2.Results`,
//! `Settings.NotificationLevel` and `ISystemInformation.RebootRequired`.
//!
//! The search runs in a child process, `attest-agent wua-snapshot`, which prints
//! the JSON on standard output: `IUpdateSearcher.Search` has been seen to leak
//! memory and to run for minutes (catalogue 0.3), so the service process never
//! hosts it, and the child is killed after [`super::WUA_TIMEOUT`].

use serde_json::Value;
use windows::Win32::System::Com::{CLSCTX_INPROC_SERVER, CoCreateInstance};
use windows::Win32::System::UpdateAgent::{
    AutomaticUpdates, IAutomaticUpdates, IAutomaticUpdates2, ISystemInformation, IUpdate,
    IUpdateSession, SystemInformation, UpdateSession,
};
use windows::Win32::System::Variant::{VARIANT, VT_DATE, VT_EMPTY, VT_NULL, VariantClear};
use windows::core::{BSTR, Interface as _};

use super::com::{error_text, in_apartment};
use super::{
    WUA_CRITERIA, WUA_SUBCOMMAND, WUA_TIMEOUT, WuaCategory, WuaField, WuaSearch, WuaSnapshot,
    WuaUpdate, run_json_child, wua_snapshot_json,
};
use crate::host::SourceError;

/// Parent side: runs this executable's `wua-snapshot` subcommand (no shell, the
/// agent's own path from `current_exe`, a fixed argument) and reads its JSON.
pub(super) fn snapshot_via_child(what: &str) -> Result<Value, SourceError> {
    use std::os::windows::process::CommandExt as _;
    /// `CREATE_NO_WINDOW`: no console window for the child.
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    let exe = std::env::current_exe().map_err(|e| SourceError::Failed {
        what: what.to_owned(),
        error: format!("cannot find the agent's own executable: {e}"),
    })?;
    // The one process the agent starts outside Host::command: itself, by the
    // path the OS gives for the running image, with a fixed argument; never a
    // shell and never an argv built from host data.
    #[allow(clippy::disallowed_methods)]
    let mut command = std::process::Command::new(exe);
    command.arg(WUA_SUBCOMMAND).creation_flags(CREATE_NO_WINDOW);
    run_json_child(command, what, WUA_TIMEOUT)
}

/// Child side: everything the snapshot reads, as its JSON. `Err` only when COM
/// cannot be initialised at all (the child then exits 1 with the text).
pub fn snapshot_json() -> Result<Value, String> {
    in_apartment(|| wua_snapshot_json(&read_snapshot()))
}

fn text(step: &str, e: &windows::core::Error) -> String {
    format!("{step}: {}", error_text(e))
}

#[allow(unsafe_code)] // each unsafe block says why it is sound
fn read_snapshot() -> WuaSnapshot {
    let search = match search() {
        Ok(search) => search,
        Err(e) => WuaSearch::Failed {
            hresult: e.code().0 as u32,
            error: error_text(&e),
        },
    };
    // SAFETY: a static CLSID, no outer object, the thread is in the MTA.
    let au: Result<IAutomaticUpdates, String> =
        unsafe { CoCreateInstance(&AutomaticUpdates, None, CLSCTX_INPROC_SERVER) }
            .map_err(|e| text("CoCreateInstance(AutomaticUpdates)", &e));
    let results = au.as_ref().map_err(Clone::clone).and_then(|au| {
        let au2: IAutomaticUpdates2 = au.cast().map_err(|e| text("IAutomaticUpdates2", &e))?;
        // SAFETY: a method of a live interface owned by `au2`, no argument.
        unsafe { au2.Results() }.map_err(|e| text("IAutomaticUpdates2.Results", &e))
    });
    let date = |read: &dyn Fn() -> windows::core::Result<VARIANT>, step: &str| -> WuaField<f64> {
        let mut v = read().map_err(|e| text(step, &e))?;
        let out = ole_date(&v).map_err(|vt| format!("{step}: a VARIANT of type {vt}, not a date"));
        // SAFETY: `v` is an initialised VARIANT owned here; VariantClear frees
        // whatever it holds (nothing for a date) and leaves it VT_EMPTY.
        let _ = unsafe { VariantClear(&mut v) };
        out
    };
    let last_search_success_date = match &results {
        // SAFETY: a method of a live interface owned by `results`, no argument.
        Ok(r) => date(
            &|| unsafe { r.LastSearchSuccessDate() },
            "IAutomaticUpdatesResults.LastSearchSuccessDate",
        ),
        Err(e) => Err(e.clone()),
    };
    let last_installation_success_date = match &results {
        // SAFETY: as above.
        Ok(r) => date(
            &|| unsafe { r.LastInstallationSuccessDate() },
            "IAutomaticUpdatesResults.LastInstallationSuccessDate",
        ),
        Err(e) => Err(e.clone()),
    };
    let notification_level = au.as_ref().map_err(Clone::clone).and_then(|au| {
        // SAFETY: methods of live interfaces owned here, no argument.
        unsafe { au.Settings().and_then(|s| s.NotificationLevel()) }
            .map(|level| Some(level.0))
            .map_err(|e| text("IAutomaticUpdates.Settings.NotificationLevel", &e))
    });
    // SAFETY: a static CLSID, no outer object; then a method of the live
    // interface, no argument, a VARIANT_BOOL result.
    let reboot_required = unsafe {
        CoCreateInstance::<_, ISystemInformation>(&SystemInformation, None, CLSCTX_INPROC_SERVER)
            .and_then(|s| s.RebootRequired())
    }
    .map(|b| Some(b.as_bool()))
    .map_err(|e| text("ISystemInformation.RebootRequired", &e));
    WuaSnapshot {
        search,
        last_search_success_date,
        last_installation_success_date,
        notification_level,
        reboot_required,
    }
}

/// A VARIANT date as an OLE date; `Ok(None)` for `VT_EMPTY`/`VT_NULL` (WUA's
/// "never"); `Err(vt)` for any other type.
#[allow(unsafe_code)] // the block says why it is sound
fn ole_date(v: &VARIANT) -> Result<Option<f64>, u16> {
    // SAFETY: `vt` is the discriminant every VARIANT carries; the `date` member is
    // read only when `vt` says the VARIANT holds a DATE.
    unsafe {
        let inner = &v.Anonymous.Anonymous;
        match inner.vt {
            VT_DATE => Ok(Some(inner.Anonymous.date)),
            VT_EMPTY | VT_NULL => Ok(None),
            other => Err(other.0),
        }
    }
}

/// The offline search and its updates.
#[allow(unsafe_code)] // the block says why it is sound
fn search() -> windows::core::Result<WuaSearch> {
    // SAFETY: a static CLSID, no outer object, the thread is in the MTA; then
    // methods of live interfaces owned here, with owned BSTR and VARIANT_BOOL
    // arguments.
    unsafe {
        let session: IUpdateSession = CoCreateInstance(&UpdateSession, None, CLSCTX_INPROC_SERVER)?;
        let searcher = session.CreateUpdateSearcher()?;
        searcher.SetOnline(false.into())?;
        let result = searcher.Search(&BSTR::from(WUA_CRITERIA))?;
        let result_code = result.ResultCode()?.0;
        let collection = result.Updates()?;
        let mut updates = Vec::new();
        for i in 0..collection.Count()? {
            updates.push(update(&collection.get_Item(i)?)?);
        }
        Ok(WuaSearch::Done {
            result_code,
            updates,
        })
    }
}

/// One `IUpdate`.
#[allow(unsafe_code)] // the block says why it is sound
fn update(u: &IUpdate) -> windows::core::Result<WuaUpdate> {
    // SAFETY: methods of live interfaces owned here, integer arguments, owned
    // results.
    unsafe {
        let identity = u.Identity()?;
        let kbs = u.KBArticleIDs()?;
        let mut kb_article_ids = Vec::new();
        for i in 0..kbs.Count()? {
            kb_article_ids.push(kbs.get_Item(i)?.to_string());
        }
        let cats = u.Categories()?;
        let mut categories = Vec::new();
        for i in 0..cats.Count()? {
            let c = cats.get_Item(i)?;
            categories.push(WuaCategory {
                category_id: c.CategoryID()?.to_string(),
                kind: c.Type()?.to_string(),
                name: c.Name()?.to_string(),
            });
        }
        Ok(WuaUpdate {
            update_id: identity.UpdateID()?.to_string(),
            revision_number: identity.RevisionNumber()?,
            title: u.Title()?.to_string(),
            kb_article_ids,
            msrc_severity: u.MsrcSeverity().ok().map(|s| s.to_string()),
            is_downloaded: u.IsDownloaded()?.as_bool(),
            is_mandatory: u.IsMandatory()?.as_bool(),
            reboot_behavior: u
                .InstallationBehavior()
                .and_then(|b| b.RebootBehavior())
                .ok()
                .map(|r| r.0),
            last_deployment_change_time: u.LastDeploymentChangeTime().ok(),
            categories,
        })
    }
}
