//! `meshrender schema`: prints the JSON Schema of the spec (`schema/spec.schema.json`,
//! embedded; `tests/spec_schema.rs` proves it matches what the decoder accepts).

use super::{ExitCode, Result};

pub(super) fn run() -> Result<ExitCode> {
    print!("{}", crate::spec::SCHEMA);
    Ok(ExitCode::Ok)
}
