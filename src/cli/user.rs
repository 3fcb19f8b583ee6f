//! `wangge user add`: users and API tokens, straight into the database.

use std::path::PathBuf;

use crate::store::{new_token, Role, Store};

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Adds a user; prints a generated password when none is given.
    Add(AddArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// admin, leader, chief or analyst.
    #[arg(long)]
    pub role: String,
    /// Unit code the role applies to (repeat for several; chiefs: grid codes).
    #[arg(long)]
    pub scope: Vec<String>,
    /// Password; generated and printed when absent.
    #[arg(long, env = "WANGGE_NEW_PASSWORD")]
    pub password: Option<String>,
    /// Also issue a long-lived API token (machine ingest) and print it once.
    #[arg(long)]
    pub token: bool,
    /// Data directory; default from the config, `data/demo`.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Config file.
    #[arg(long, default_value = "wangge.toml")]
    pub config: PathBuf,
    /// User name.
    pub name: String,
}

pub fn run(c: &UserCommand) -> anyhow::Result<i32> {
    let UserCommand::Add(a) = c;
    let role = Role::parse(&a.role)
        .ok_or_else(|| anyhow::anyhow!("--role {}: use admin, leader, chief or analyst", a.role))?;
    if role != Role::Admin && a.scope.is_empty() {
        anyhow::bail!("a {} needs at least one --scope unit code", a.role);
    }
    let (cfg, _) = super::serve::config(&a.config, a.data.as_ref(), None)?;
    let store = Store::open(&cfg.database())?;
    let generated = a.password.is_none();
    let password = match &a.password {
        Some(p) => p.clone(),
        None => new_token()?[..24].to_owned(),
    };
    let user = store.add_user(&a.name, role, &a.scope, &password)?;
    println!(
        "added {} ({}) scopes [{}]",
        user.name,
        role.as_str(),
        user.scopes.join(", ")
    );
    if generated {
        println!("password (shown once): {password}");
    }
    if a.token {
        let days = i64::try_from(cfg.auth.token_days).unwrap_or(365);
        let (token, _) = store.create_session(&user, "api", days * 86_400_000_000)?;
        println!("API token (shown once): {token}");
    }
    Ok(0)
}
