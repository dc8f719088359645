//! The WMI sources, through the `wmi` crate (safe wrappers over `IWbemServices`):
//! a query's instances with the layout's properties, and `Win32_EncryptableVolume`
//! with the results of its methods. Runs inside [`super::com::on_com_thread`].

use serde_json::{Map, Value, json};
use wmi::{AuthLevel, Variant, WMIConnection};

use super::com::wmi_error_text;
use super::{
    ENCRYPTABLE_VOLUME_PROPERTIES, VOLUME_METHODS_NO_INPUT, encryptable_volume_json, instance_json,
    instances_json, method_failed_json, method_result_json, protector_ids,
};
use crate::host::SourceError;

/// A WMI value as JSON: numbers as numbers (WMI's 64-bit integers arrive as
/// strings and are turned back into numbers by the crate, by CIM type), strings,
/// booleans, arrays; null for empty, null and embedded objects (no layout holds
/// one).
fn json_of(v: Variant) -> Value {
    match v {
        Variant::Empty | Variant::Null | Variant::Unknown(_) | Variant::Object(_) => Value::Null,
        Variant::String(s) => Value::String(s),
        Variant::I1(n) => n.into(),
        Variant::I2(n) => n.into(),
        Variant::I4(n) => n.into(),
        Variant::I8(n) => n.into(),
        Variant::UI1(n) => n.into(),
        Variant::UI2(n) => n.into(),
        Variant::UI4(n) => n.into(),
        Variant::UI8(n) => n.into(),
        Variant::R4(n) => {
            serde_json::Number::from_f64(f64::from(n)).map_or(Value::Null, Value::Number)
        }
        Variant::R8(n) => serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
        Variant::Bool(b) => b.into(),
        Variant::Array(items) => Value::Array(items.into_iter().map(json_of).collect()),
    }
}

/// `GetConversionStatus`'s `PrecisionFactor`: 0, so that `EncryptionPercentage`
/// is the integer percentage 0–100 the layout records (a factor of N multiplies it
/// by 10^N; the catalogue's "PrecisionFactor 1" would record 1000 for a fully
/// encrypted volume and the percentage fact would read ten times too high).
const CONVERSION_PRECISION: u32 = 0;

/// One property of a WMI object; `None` when the class has none by that name.
fn property(obj: &wmi::IWbemClassWrapper, name: &str) -> Option<Value> {
    obj.get_property(name).ok().map(json_of)
}

fn connect(what: &str, namespace: &str, level: AuthLevel) -> Result<WMIConnection, SourceError> {
    let failed = |e: wmi::WMIError| SourceError::Failed {
        what: what.to_owned(),
        error: wmi_error_text(&e),
    };
    let con = WMIConnection::with_namespace_path(namespace).map_err(failed)?;
    con.set_proxy_blanket(level).map_err(failed)?;
    Ok(con)
}

/// Every instance `query` returns in `namespace`, with the properties `names`.
pub(super) fn instances(
    what: &str,
    namespace: &str,
    query: &str,
    names: &[&str],
) -> Result<Value, SourceError> {
    let failed = |e: wmi::WMIError| SourceError::Failed {
        what: what.to_owned(),
        error: wmi_error_text(&e),
    };
    let con = connect(what, namespace, AuthLevel::Call)?;
    let mut out = Vec::new();
    for obj in con.exec_query(query).map_err(failed)? {
        let obj = obj.map_err(failed)?;
        out.push(instance_json(names, |n| property(&obj, n)));
    }
    Ok(instances_json(out))
}

/// `Win32_EncryptableVolume` in `ROOT\CIMV2\Security\MicrosoftVolumeEncryption`
/// (packet privacy, as the BitLocker provider requires), each instance with the
/// results of `GetProtectionStatus`, `GetConversionStatus(PrecisionFactor 0)`,
/// `GetEncryptionMethod`, `GetKeyProtectors`, `GetKeyProtectorType` per protector
/// ID and `GetLockStatus`. Nothing that returns key material is called.
pub(super) fn encryptable_volumes(what: &str) -> Result<Value, SourceError> {
    let failed = |e: wmi::WMIError| SourceError::Failed {
        what: what.to_owned(),
        error: wmi_error_text(&e),
    };
    let con = connect(
        what,
        "ROOT\\CIMV2\\Security\\MicrosoftVolumeEncryption",
        AuthLevel::PktPrivacy,
    )?;
    let class = con.get_object("Win32_EncryptableVolume").map_err(failed)?;
    let mut out = Vec::new();
    for obj in con
        .exec_query("SELECT * FROM Win32_EncryptableVolume")
        .map_err(failed)?
    {
        let obj = obj.map_err(failed)?;
        let props = instance_json(ENCRYPTABLE_VOLUME_PROPERTIES, |n| property(&obj, n));
        let path = obj.path().map_err(failed)?;
        let mut methods = Map::new();
        for method in VOLUME_METHODS_NO_INPUT {
            methods.insert((*method).to_owned(), call(&con, &path, method, None));
        }
        let precision = in_params(
            &class,
            "GetConversionStatus",
            "PrecisionFactor",
            Variant::UI4(CONVERSION_PRECISION),
        );
        methods.insert(
            "GetConversionStatus".to_owned(),
            match precision {
                Ok(params) => call(&con, &path, "GetConversionStatus", params.as_ref()),
                Err(e) => failed_call(&e),
            },
        );
        let ids = methods
            .get("GetKeyProtectors")
            .map(protector_ids)
            .unwrap_or_default();
        let mut types = Map::new();
        for id in ids {
            let params = in_params(
                &class,
                "GetKeyProtectorType",
                "VolumeKeyProtectorID",
                Variant::String(id.clone()),
            );
            let result = match params {
                Ok(params) => call(&con, &path, "GetKeyProtectorType", params.as_ref()),
                Err(e) => failed_call(&e),
            };
            types.insert(id, result);
        }
        methods.insert("GetKeyProtectorType".to_owned(), Value::Object(types));
        out.push(encryptable_volume_json(props, methods));
    }
    Ok(instances_json(out))
}

/// The input parameters of `method` with `name` set to `value`.
fn in_params(
    class: &wmi::IWbemClassWrapper,
    method: &str,
    name: &str,
    value: Variant,
) -> Result<Option<wmi::IWbemClassWrapper>, wmi::WMIError> {
    let Some(signature) = class.get_method(method)? else {
        return Ok(None);
    };
    let params = signature.spawn_instance()?;
    params.put_property(name, value)?;
    Ok(Some(params))
}

/// One method on the instance at `path`: its result in the layout, or the
/// HRESULT of a call that failed.
fn call(
    con: &WMIConnection,
    path: &str,
    method: &str,
    params: Option<&wmi::IWbemClassWrapper>,
) -> Value {
    match con.exec_method(path, method, params) {
        Ok(Some(out)) => method_result_json(method, |n| property(&out, n)),
        Ok(None) => json!({ "ReturnValue": null }),
        Err(e) => failed_call(&e),
    }
}

fn failed_call(e: &wmi::WMIError) -> Value {
    match e {
        wmi::WMIError::HResultError { hres } => method_failed_json(*hres as u32, ""),
        other => json!({ "ReturnValue": null, "error": other.to_string() }),
    }
}
