//! `toolgate remove NAME`.

use anyhow::Result;

use crate::cli::RemoveArgs;
use crate::config::{self, Paths};
use crate::error::{UserError, exit};

pub fn run(paths: &Paths, args: RemoveArgs) -> Result<u8> {
    let path = &paths.config_file;
    if !path.exists() {
        return Err(UserError::new(format!(
            "there is no config file at {}, so there is no server \"{}\" to remove",
            path.display(),
            args.name
        ))
        .hint("`toolgate servers` lists the servers in effect; `toolgate add NAME -- COMMAND` adds one")
        .into());
    }
    config::edit(path, |doc| {
        let removed = doc
            .get_mut("servers")
            .and_then(|s| s.as_table_like_mut())
            .and_then(|s| s.remove(&args.name));
        if removed.is_none() {
            return Err(UserError::new(format!(
                "no server named \"{}\" in {}",
                args.name,
                path.display()
            ))
            .hint("`toolgate servers` lists the configured servers")
            .into());
        }
        Ok(())
    })?;
    super::say(&format!(
        "Removed server \"{}\" from {}",
        args.name,
        path.display()
    ));
    Ok(exit::OK)
}
