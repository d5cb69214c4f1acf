//! `user add|list|disable|passwd`: the same subcommands for `bangfu-hub` and `bangfu-node`. Each
//! binary opens its own store and hands the [`Accounts`] to [`run`].

use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;

use crate::Accounts;

/// Accounts of the people who log in to the web pages (用户管理).
#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Add a user; the password is read from the first line of standard input (新增用户).
    ///
    /// Example: printf '%s\n' "$PASSWORD" | bangfu-node user add --data /srv/bangfu --username wang --role clerk --password-stdin
    Add {
        /// The data folder.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        #[arg(long)]
        username: String,
        /// The user's role (hub: viewer|reviewer|admin; node: clerk|admin).
        #[arg(long)]
        role: String,
        /// Read the password from standard input (never from the command line, where `ps` shows it).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users with their role and whether they are disabled (用户列表).
    List {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Disable a user: they cannot log in and their sessions end at once (停用用户).
    Disable {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        #[arg(long)]
        username: String,
    },
    /// Set a user's password from standard input; their sessions end (修改密码).
    Passwd {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        #[arg(long)]
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

impl UserCmd {
    /// The data folder the command works on.
    pub fn data(&self) -> &Path {
        match self {
            UserCmd::Add { data, .. }
            | UserCmd::List { data }
            | UserCmd::Disable { data, .. }
            | UserCmd::Passwd { data, .. } => data,
        }
    }
}

/// The first line of standard input, without its line ending.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Runs one `user` command on `accounts`, printing what it did.
pub async fn run(cmd: UserCmd, accounts: &Accounts) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add { username, role, .. } => {
            let password = password_from_stdin()?;
            accounts
                .add_user(&username, &role, &password)
                .await
                .with_context(|| format!("adding user {username}"))?;
            println!("已添加用户 / user added: {username} ({role})");
        }
        UserCmd::List { .. } => {
            let users = accounts.list().await.context("listing users")?;
            if users.is_empty() {
                println!("没有用户 / no users: add one with `user add`");
            }
            for u in users {
                let state = if u.disabled {
                    "停用 disabled"
                } else {
                    "启用 active"
                };
                println!("{}\t{}\t{}", u.username, u.role, state);
            }
        }
        UserCmd::Disable { username, .. } => {
            accounts
                .disable(&username)
                .await
                .with_context(|| format!("disabling user {username}"))?;
            println!("已停用 / user disabled: {username}");
        }
        UserCmd::Passwd { username, .. } => {
            let password = password_from_stdin()?;
            accounts
                .set_password(&username, &password)
                .await
                .with_context(|| format!("setting the password of {username}"))?;
            println!("已修改密码 / password changed: {username}");
        }
    }
    Ok(())
}
