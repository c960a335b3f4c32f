//! `meshrender completions <shell>`: a completion script for the shell, from the clap tree.

use super::{ExitCode, Result, Shell};

pub(super) fn run(shell: Shell) -> Result<ExitCode> {
    use clap_complete::Shell as S;
    let shell = match shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::Powershell => S::PowerShell,
        Shell::Elvish => S::Elvish,
    };
    let mut cmd = super::command();
    clap_complete::generate(shell, &mut cmd, "meshrender", &mut std::io::stdout());
    Ok(ExitCode::Ok)
}
