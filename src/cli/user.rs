//! `wangge user`: accounts and API tokens, straight into the database.
//! Every change takes effect on a running server within a second: it
//! re-reads a cached session at least once a second.

use std::path::PathBuf;

use crate::grid::{parse_geojson, GridModel, GRID_LEVEL};
use crate::store::{new_token, Role, Store};

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Adds a user; prints a generated password when none is given.
    Add(AddArgs),
    /// Lists the users: role, scopes, enabled or not, live sessions and tokens.
    List(Target),
    /// Disables a user: no login, and every session and token ends.
    Disable(Named),
    /// Enables a disabled user again.
    Enable(Named),
    /// Sets a new password (generated when none is given); every session and token ends.
    Passwd(PasswdArgs),
    /// Ends every session and API token of a user.
    Revoke(Named),
}

/// Which deployment.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// Data directory; default from the config, `data/demo`.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Config file (TOML), which must exist; without it, `wangge.toml`
    /// when the working directory has one, else every key's default.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct Named {
    #[command(flatten)]
    pub target: Target,
    /// User name.
    pub name: String,
}

#[derive(Debug, clap::Args)]
pub struct PasswdArgs {
    #[command(flatten)]
    pub target: Target,
    /// New password (at least 10 characters, not containing the name);
    /// generated and printed when absent.
    #[arg(long, env = "WANGGE_NEW_PASSWORD")]
    pub password: Option<String>,
    /// User name.
    pub name: String,
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// admin, leader, chief or analyst.
    #[arg(long)]
    pub role: String,
    /// Unit code the role applies to (repeat for several; chiefs: grid codes).
    #[arg(long)]
    pub scope: Vec<String>,
    /// Password (at least 10 characters, not containing the name);
    /// generated and printed when absent.
    #[arg(long, env = "WANGGE_NEW_PASSWORD")]
    pub password: Option<String>,
    /// Also issue a long-lived API token (machine ingest) and print it once.
    #[arg(long)]
    pub token: bool,
    /// The upstream system this account writes for (`12345`, `szcg`,
    /// `grid-app`): the cases it sends live in that system's id space, so
    /// its ids never collide with another system's. Default: the county's
    /// own id space, shared with the data directory's files.
    #[arg(long, default_value = "")]
    pub system: String,
    #[command(flatten)]
    pub target: Target,
    /// User name.
    pub name: String,
}

fn open(t: &Target) -> anyhow::Result<(crate::api::config::Config, Store)> {
    let file = super::serve::config_file(t.config.as_ref())?;
    let cfg = super::serve::config(file.as_deref(), t.data.as_ref(), None)?;
    let store = Store::open(&cfg.database())?;
    Ok((cfg, store))
}

/// The units scope codes are checked against: the deployment's active grid
/// version, else the data directory's `grids.geojson`.
fn units(store: &Store, data: &std::path::Path) -> anyhow::Result<GridModel> {
    let text = match store.active_grid()? {
        Some((_, text)) => text,
        None => {
            let p = data.join("grids.geojson");
            std::fs::read_to_string(&p).map_err(|e| {
                anyhow::anyhow!(
                    "{}: {e}; scope codes are checked against the units, so load the grids first",
                    p.display()
                )
            })?
        }
    };
    Ok(parse_geojson(&text, Default::default())
        .map_err(|e| anyhow::anyhow!("grids: {e}"))?
        .0)
}

/// Why `scopes` do not fit `role` over `model`.
fn scope_problem(role: Role, scopes: &[String], model: &GridModel) -> Option<String> {
    if role == Role::Admin {
        return (!scopes.is_empty())
            .then(|| "an admin has no --scope: it sees the whole county".into());
    }
    if scopes.is_empty() {
        return Some(format!(
            "a {} needs at least one --scope unit code",
            role.as_str()
        ));
    }
    for code in scopes {
        let Some(i) = model.index_of(code) else {
            return Some(format!("--scope {code}: no unit has this code"));
        };
        let level = model.unit(i).level;
        if role == Role::Chief && level != GRID_LEVEL {
            return Some(format!(
                "--scope {code}: a grid chief is scoped to grids (tier {GRID_LEVEL}); this unit is tier {level}"
            ));
        }
    }
    None
}

/// `, system NAME` for an account writing for a source system.
fn system_note(system: &str) -> String {
    if system.is_empty() {
        String::new()
    } else {
        format!(", system {system}")
    }
}

fn password(given: &Option<String>) -> anyhow::Result<(String, bool)> {
    Ok(match given {
        Some(p) => (p.clone(), false),
        None => (new_token()?[..24].to_owned(), true),
    })
}

pub fn run(c: &UserCommand) -> anyhow::Result<i32> {
    match c {
        UserCommand::Add(a) => add(a),
        UserCommand::List(t) => {
            let (_, store) = open(t)?;
            for (u, disabled, live) in store.users()? {
                println!(
                    "{}\t{}\t[{}]\t{}\t{live} live sessions/tokens{}",
                    u.name,
                    u.role.as_str(),
                    u.scopes.join(", "),
                    if disabled { "disabled" } else { "enabled" },
                    system_note(&u.system).replace(", ", "\t")
                );
            }
            Ok(0)
        }
        UserCommand::Disable(n) => {
            let ended = open(&n.target)?.1.set_disabled(&n.name, true)?;
            println!("disabled {}; {ended} sessions and tokens ended", n.name);
            Ok(0)
        }
        UserCommand::Enable(n) => {
            open(&n.target)?.1.set_disabled(&n.name, false)?;
            println!("enabled {}", n.name);
            Ok(0)
        }
        UserCommand::Revoke(n) => {
            let ended = open(&n.target)?.1.revoke(&n.name)?;
            println!("{ended} sessions and tokens of {} ended", n.name);
            Ok(0)
        }
        UserCommand::Passwd(p) => {
            let (_, store) = open(&p.target)?;
            let (pw, generated) = password(&p.password)?;
            let ended = store.set_password(&p.name, &pw)?;
            println!(
                "new password for {}; {ended} sessions and tokens ended",
                p.name
            );
            if generated {
                println!("password (shown once): {pw}");
            }
            Ok(0)
        }
    }
}

fn add(a: &AddArgs) -> anyhow::Result<i32> {
    let role = Role::parse(&a.role)
        .ok_or_else(|| anyhow::anyhow!("--role {}: use admin, leader, chief or analyst", a.role))?;
    let (cfg, store) = open(&a.target)?;
    let model = units(&store, &cfg.storage.data)?;
    if let Some(p) = scope_problem(role, &a.scope, &model) {
        anyhow::bail!("{p}");
    }
    let (password, generated) = password(&a.password)?;
    let user = store.add_user(&a.name, role, &a.scope, &password, &a.system)?;
    println!(
        "added {} ({}) scopes [{}]{}",
        user.name,
        role.as_str(),
        user.scopes.join(", "),
        system_note(&user.system)
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
