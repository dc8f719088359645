//! The JSON report: [`super::model::FleetReport`] serialized, compact, one document
//! (`attest.fleet-report/v1`; `docs/report-format.md` describes every field).

use std::io::Write;

use super::{FleetReport, ReportError};

pub fn write(report: &FleetReport, out: &mut dyn Write) -> Result<(), ReportError> {
    serde_json::to_writer(&mut *out, report)?;
    out.write_all(b"\n")?;
    Ok(())
}
