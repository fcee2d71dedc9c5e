//! `trent completions SHELL` and `trent man`: shell completions and man
//! pages generated from the command line's clap definition, so they never
//! drift from the flags (docs/packaging.md).

use std::io::Write;
use std::path::Path;

/// Writes SHELL's completion script for `cmd` to `out`.
pub fn completions(mut cmd: clap::Command, shell: clap_complete::Shell, out: &mut dyn Write) {
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, &mut cmd, name, out);
}

/// Without `dir`: the top page (trent.1) on `out`. With it: one page per
/// command and subcommand (trent.1, trent-serve.1, trent-audit-verify.1...)
/// written into `dir`; returns their file names.
pub fn man_pages(cmd: clap::Command, dir: Option<&Path>, out: &mut dyn Write) -> std::io::Result<Vec<String>> {
    let Some(dir) = dir else {
        clap_mangen::Man::new(cmd).render(out)?;
        return Ok(vec![]);
    };
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    write_pages(cmd, dir, &mut written)?;
    Ok(written)
}

fn write_pages(cmd: clap::Command, dir: &Path, written: &mut Vec<String>) -> std::io::Result<()> {
    // A subcommand's page is named after its full path (trent-audit-verify)
    // and shows it in its synopsis (trent audit verify).
    let cmd = cmd.disable_help_subcommand(true);
    let bin = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name()).to_owned();
    let name = bin.replace(' ', "-");
    let file = format!("{name}.1");
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone().display_name(name.clone())).title(name).render(&mut page)?;
    std::fs::write(dir.join(&file), page)?;
    written.push(file);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_bin = format!("{bin} {}", sub.get_name());
        write_pages(sub.clone().bin_name(sub_bin), dir, written)?;
    }
    Ok(())
}
