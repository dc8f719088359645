//! The JSON report: [`super::model::FleetReport`] serialized, compact, one document
//! (`attest.fleet-report/v1`; `docs/report-format.md` describes every field).

use std::io::Write;

use super::{FleetReport, ReportError};

pub fn write(report: &FleetReport, out: &mut dyn Write) -> Result<(), ReportError> {
    // A concrete buffered writer: serde_json writes many small pieces.
    let mut w = std::io::BufWriter::with_capacity(1 << 16, out);
    serde_json::to_writer(&mut w, report)?;
    w.write_all(b"\n")?;
    w.flush()?;
    Ok(())
}
