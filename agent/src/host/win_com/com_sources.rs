//! The COM sources called in-process: Security Center's products
//! (`IWSCProductList`, the documented API; clients only, Windows Server has no
//! Security Center and answers `0x80040154 class not registered`) and Windows
//! Firewall's effective profile state (`INetFwPolicy2`). Runs inside
//! [`super::com::on_com_thread`]; every COM object is dropped before it returns.

use serde_json::Value;
use windows::Win32::NetworkManagement::WindowsFirewall::{
    INetFwPolicy2, NET_FW_PROFILE_TYPE2, NetFwPolicy2,
};
use windows::Win32::System::Com::{CLSCTX_INPROC_SERVER, CoCreateInstance};
use windows::Win32::System::SecurityCenter::{
    IWSCProductList, WSC_SECURITY_PROVIDER, WSC_SECURITY_PROVIDER_ANTIVIRUS,
    WSC_SECURITY_PROVIDER_FIREWALL, WSCProductList,
};

use super::com::error_text;
use super::{FIREWALL_PROFILE_TYPES, WscProduct, firewall_json, wsc_json};
use crate::host::SourceError;

fn failed(what: &str, step: &str, e: &windows::core::Error) -> SourceError {
    SourceError::Failed {
        what: what.to_owned(),
        error: format!("{step}: {}", error_text(e)),
    }
}

/// The products Security Center lists for one provider.
fn wsc_list(
    what: &str,
    provider: WSC_SECURITY_PROVIDER,
    with_signature: bool,
) -> Result<Vec<WscProduct>, SourceError> {
    #[allow(unsafe_code)]
    // SAFETY: CoCreateInstance gets a pointer to a static CLSID and no outer
    // object; the thread is in the MTA (on_com_thread).
    let list: IWSCProductList =
        unsafe { CoCreateInstance(&WSCProductList, None, CLSCTX_INPROC_SERVER) }
            .map_err(|e| failed(what, "CoCreateInstance(WSCProductList)", &e))?;
    #[allow(unsafe_code)]
    // SAFETY: methods of a live interface pointer owned by `list`, with plain
    // integer arguments; results are owned values (i32, BSTR, interfaces).
    let products = unsafe {
        list.Initialize(provider)
            .map_err(|e| failed(what, "IWSCProductList.Initialize", &e))?;
        let count = list
            .Count()
            .map_err(|e| failed(what, "IWSCProductList.Count", &e))?;
        let mut products = Vec::new();
        for index in 0..u32::try_from(count).unwrap_or(0) {
            let product = list
                .get_Item(index)
                .map_err(|e| failed(what, "IWSCProductList.Item", &e))?;
            let name = product
                .ProductName()
                .map_err(|e| failed(what, "IWscProduct.ProductName", &e))?;
            let state = product
                .ProductState()
                .map_err(|e| failed(what, "IWscProduct.ProductState", &e))?;
            let signature = if with_signature {
                Some(
                    product
                        .SignatureStatus()
                        .map_err(|e| failed(what, "IWscProduct.SignatureStatus", &e))?
                        .0,
                )
            } else {
                None
            };
            products.push(WscProduct {
                name: name.to_string(),
                product_state: state.0,
                signature_status: signature,
            });
        }
        products
    };
    Ok(products)
}

/// `win.wsc.products`.
pub(super) fn wsc_products(what: &str) -> Result<Value, SourceError> {
    let antivirus = wsc_list(what, WSC_SECURITY_PROVIDER_ANTIVIRUS, true)?;
    let firewall = wsc_list(what, WSC_SECURITY_PROVIDER_FIREWALL, false)?;
    Ok(wsc_json(&antivirus, &firewall))
}

/// `win.api.firewall_profiles`: `FirewallEnabled` of the domain, private and
/// public profiles (the effective state, policy applied) and
/// `CurrentProfileTypes`.
pub(super) fn firewall_profiles(what: &str) -> Result<Value, SourceError> {
    #[allow(unsafe_code)]
    // SAFETY: as in wsc_list: a static CLSID, no outer object, MTA thread.
    let policy: INetFwPolicy2 =
        unsafe { CoCreateInstance(&NetFwPolicy2, None, CLSCTX_INPROC_SERVER) }
            .map_err(|e| failed(what, "CoCreateInstance(NetFwPolicy2)", &e))?;
    let mut enabled = Vec::new();
    for ty in FIREWALL_PROFILE_TYPES {
        #[allow(unsafe_code)]
        // SAFETY: a method of the live interface owned by `policy`, an integer
        // argument, a VARIANT_BOOL result.
        let on = unsafe { policy.get_FirewallEnabled(NET_FW_PROFILE_TYPE2(ty)) }
            .map_err(|e| failed(what, "INetFwPolicy2.FirewallEnabled", &e))?;
        enabled.push((ty, on.as_bool()));
    }
    #[allow(unsafe_code)]
    // SAFETY: as above, no argument, an i32 result.
    let current = unsafe { policy.CurrentProfileTypes() }
        .map_err(|e| failed(what, "INetFwPolicy2.CurrentProfileTypes", &e))?;
    Ok(firewall_json(&enabled, current))
}
