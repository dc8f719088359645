//! COM for the live sources: every call runs on a thread of its own that joins
//! the multithreaded apartment (`CoInitializeEx(COINIT_MULTITHREADED)`) for the
//! call and leaves it after, so the caller's thread (the service's runtime, a
//! check's thread) never has its COM state changed and no apartment is shared
//! between calls. The process's COM security (`CoInitializeSecurity`: default
//! authentication, impersonation level *impersonate*, as WMI clients need) is set
//! once, by the first call. The caller waits at most a timeout; a call still
//! running then is abandoned on its thread (COM cannot cancel it) and the source
//! answers [`SourceError::Timeout`].

use std::marker::PhantomData;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use windows::Win32::System::Com::{
    COINIT_MULTITHREADED, CoInitializeEx, CoInitializeSecurity, CoUninitialize, EOAC_NONE,
    RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE,
};

use super::hresult_text;
use crate::host::SourceError;

/// `RPC_E_TOO_LATE`: security was already set (by us on another thread, or by a
/// library); what is in force is kept.
const RPC_E_TOO_LATE: u32 = 0x8001_0119;

/// The error text of a COM or WMI failure: `0x8004100E invalid namespace`.
pub(super) fn error_text(e: &windows::core::Error) -> String {
    hresult_text(e.code().0 as u32, &e.message())
}

/// The error text of a `wmi` crate failure (its HRESULT when it has one).
pub(super) fn wmi_error_text(e: &wmi::WMIError) -> String {
    match e {
        wmi::WMIError::HResultError { hres } => hresult_text(*hres as u32, ""),
        other => other.to_string(),
    }
}

/// Membership of the multithreaded apartment for the current thread, left on drop
/// (not `Send`: it must be dropped on the thread that joined).
struct Apartment(PhantomData<*const ()>);

impl Apartment {
    fn join() -> Result<Apartment, String> {
        #[allow(unsafe_code)]
        // SAFETY: no pointer is passed (the reserved argument is None); the
        // returned HRESULT is checked, and a successful call is balanced by the
        // CoUninitialize of Drop on this same thread (Apartment is !Send).
        let hr = unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) };
        hr.ok().map_err(|e| error_text(&e))?;
        Ok(Apartment(PhantomData))
    }
}

impl Drop for Apartment {
    #[allow(unsafe_code)] // the block says why it is sound
    fn drop(&mut self) {
        // SAFETY: balances the successful CoInitializeEx of `join` on this thread;
        // every COM object of the call was dropped before (they live in the
        // closure run inside the apartment).
        unsafe {
            CoUninitialize();
        }
    }
}

/// Sets the process's COM security once. `RPC_E_TOO_LATE` (already set, by an
/// earlier call or a library) is success: what is in force is kept. A failure is
/// not remembered: the next call tries again.
#[allow(unsafe_code)] // the block says why it is sound
fn init_security() -> Result<(), String> {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE
        .lock()
        .map_err(|_| "COM security: lock poisoned".to_owned())?;
    if *done {
        return Ok(());
    }
    // SAFETY: every pointer argument is None (no security descriptor, no
    // authentication service list, no reserved values), so COM builds the
    // defaults; the calling thread is in the MTA (Apartment::join first).
    let set = unsafe {
        CoInitializeSecurity(
            None,
            -1,
            None,
            None,
            RPC_C_AUTHN_LEVEL_DEFAULT,
            RPC_C_IMP_LEVEL_IMPERSONATE,
            None,
            EOAC_NONE,
            None,
        )
    };
    match set {
        Err(e) if e.code().0 as u32 != RPC_E_TOO_LATE => Err(error_text(&e)),
        _ => {
            *done = true;
            Ok(())
        }
    }
}

/// Runs `call` on a new thread in the MTA, with the process's COM security set,
/// and waits for it at most `timeout`. `call` gets `what` (the source's name) for
/// its errors.
pub(super) fn on_com_thread<F>(what: &str, timeout: Duration, call: F) -> Result<Value, SourceError>
where
    F: FnOnce(&str) -> Result<Value, SourceError> + Send + 'static,
{
    let failed = |error: String| SourceError::Failed {
        what: what.to_owned(),
        error,
    };
    let (tx, rx) = mpsc::channel();
    let name = what.to_owned();
    std::thread::Builder::new()
        .name("attest-com".to_owned())
        .spawn(move || {
            let result = Apartment::join()
                .and_then(|apartment| init_security().map(|()| apartment))
                .map_err(|error| SourceError::Failed {
                    what: name.clone(),
                    error,
                })
                .and_then(|_apartment| call(&name));
            // The receiver may have given up (timeout): nothing to do then.
            let _ = tx.send(result);
        })
        .map_err(|e| failed(format!("cannot start a thread: {e}")))?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(SourceError::Timeout {
            what: what.to_owned(),
            seconds: timeout.as_secs(),
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(failed(
            "the call's thread ended without an answer".to_owned(),
        )),
    }
}

/// Runs `f` on the current thread inside the MTA with the process's COM security
/// set: for the `wua-snapshot` child, whose main thread does nothing else.
pub(super) fn in_apartment<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let _apartment = Apartment::join()?;
    init_security()?;
    Ok(f())
}
