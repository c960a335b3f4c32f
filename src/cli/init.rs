//! `meshrender init`: print a starter spec for one of Istio's multicluster models.

use super::{Error, ExitCode, Result};

pub(super) fn run(model: &str) -> Result<ExitCode> {
    let Some(text) = crate::init::starter(model) else {
        let mut m = format!("unknown model `{model}`; expected one of:");
        for (name, _, about) in crate::init::MODELS {
            m.push_str(&format!("\n  {name:<30} {about}"));
        }
        return Err(Error::Message(m));
    };
    print!("{text}");
    Ok(ExitCode::Ok)
}
