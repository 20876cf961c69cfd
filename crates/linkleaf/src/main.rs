//! `linkleaf`: one binary, a subcommand per role.
//! Must not: hold the service's logic (the library does), or start anything before the
//! configuration is read.

use clap::{Parser, Subcommand};
use linkleaf::{Application, Config, accounts, demo, keys, open_stores, shutdown_signal};
use std::path::PathBuf;
use std::process::ExitCode;

// mimalloc: measured faster than glibc malloc on the hot read path (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A fast, self-hostable link-in-bio service: a public page per username, served from memory.
#[derive(Parser)]
#[command(name = "linkleaf", version, propagate_version = true)]
struct Cli {
    /// A TOML configuration file (default: ./linkleaf.toml when present). LINKLEAF_* environment
    /// variables override it, e.g. LINKLEAF_SERVER__LISTEN=0.0.0.0:8080.
    #[arg(
        long,
        short,
        global = true,
        env = "LINKLEAF_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (creates and migrates the database on start).
    Serve {
        /// Load the example profile at /demo first.
        #[arg(long)]
        demo: bool,
    },
    /// Load the example profile at /demo, then run the server.
    Demo,
    /// Run the analytics consumer alone, reading RabbitMQ (queue.url) into the database; the
    /// serving instances then run with analytics.consume = false.
    Consume,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage admin API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage the accounts people sign in with.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Profiles and their owners.
    #[command(subcommand)]
    Profiles(ProfilesCommand),
    /// Print the built-in configuration defaults (a starting linkleaf.toml).
    DefaultConfig,
    /// Print the OpenAPI 3.1 description of the API (what /api/openapi.json serves).
    Openapi,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it once, on standard output.
    Create {
        /// What the key is for (shown by `keys list`).
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: profile:read, profile:write, links:write, cache:write,
        /// analytics:read.
        #[arg(long)]
        scopes: String,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id or prefix.
    Revoke {
        /// The key's id or its prefix (lk_...).
        key: String,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Create an account that signs in with an email and a password.
    Create {
        #[arg(long)]
        email: String,
        /// The name shown for it (the email's local part by default).
        #[arg(long)]
        name: Option<String>,
        /// May manage accounts and every profile.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (its first line). Without it, a one-time
        /// link to set the password is printed: hand it to the person.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Print a one-time link that sets a new password for an account (recovery without mail).
    Reset {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum ProfilesCommand {
    /// Make an account an owner of a profile (one made before accounts, say).
    Assign {
        /// The profile's username.
        name: String,
        /// The account's email.
        #[arg(long)]
        email: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::DefaultConfig => {
            print!("{}", linkleaf::config::DEFAULTS);
            return ExitCode::SUCCESS;
        }
        Command::Openapi => {
            print!("{}", String::from_utf8_lossy(linkleaf_http::openapi_json()));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let cfg = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("linkleaf: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            cfg.log
                .filter
                .iter()
                .cloned()
                .fold(tracing_subscriber::EnvFilter::default(), |f, d| {
                    f.add_directive(d)
                }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let serving = matches!(cli.command, Command::Serve { .. } | Command::Demo);
    if serving {
        // Every connection is a descriptor: a low soft limit would cap clients long before the
        // machine does.
        match linkleaf::app::raise_open_file_limit() {
            Ok((before, now, hard)) => tracing::info!(
                soft_before = before,
                soft = now,
                hard,
                "open-file limit raised to the hard limit"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
        }
    }
    // One worker: tokio's single-threaded scheduler, which does less per task than the
    // multi-threaded one with one worker (the redirect went from 0.78-0.81x nginx to 0.83-0.84x,
    // BENCHMARKS.md). Blocking work goes to the blocking pool either way.
    let mut rt = if (serving || matches!(cli.command, Command::Consume)) && cfg.workers() > 1 {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(cfg.workers());
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("linkleaf: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = rt.block_on(run(cli.command, cfg));
    // Everything that must finish was drained (tasks waited for, threads joined); blocking work
    // still running (a classification, a read of the spool: nothing acknowledged) is left to
    // the exit instead of holding it up.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("linkleaf: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, cfg: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { demo: false } => serve(cfg, false).await,
        Command::Serve { demo: true } | Command::Demo => serve(cfg, true).await,
        Command::Consume => linkleaf::consume::run(&cfg, shutdown_signal()).await,
        Command::Migrate => {
            let stores = open_stores(&cfg).await?;
            eprintln!("database is up to date");
            let taken = accounts::reserved_in_use(stores.profiles.as_ref()).await?;
            if !taken.is_empty() {
                eprintln!(
                    "these profiles hold names the service's own pages now use; rename each \
                     (PATCH /api/profiles/NAME with a new username) so its page can be reached: {}",
                    taken.join(", ")
                );
            }
            Ok(())
        }
        Command::Keys(k) => {
            let stores = open_stores(&cfg).await?;
            match k {
                KeysCommand::Create { name, scopes } => {
                    let (rec, token) = keys::create(stores.keys.as_ref(), &name, &scopes).await?;
                    eprintln!(
                        "created key {} ({}) with scopes: {}",
                        rec.id, rec.name, rec.scopes
                    );
                    eprintln!("this is the only time the key is shown; store it now:");
                    println!("{}", token.expose());
                }
                KeysCommand::List => print!("{}", keys::table(&stores.keys.list_keys().await?)),
                KeysCommand::Revoke { key } => {
                    if stores
                        .keys
                        .revoke_key(&key, linkleaf_domain::now_millis())
                        .await?
                    {
                        eprintln!("revoked {key}");
                    } else {
                        anyhow::bail!("no active key has the id or prefix '{key}'");
                    }
                }
            }
            Ok(())
        }
        Command::Accounts(AccountsCommand::Create {
            email,
            name,
            admin,
            password_stdin,
        }) => {
            let password = if password_stdin {
                let mut password = String::new();
                std::io::stdin().read_line(&mut password)?;
                Some(password.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let stores = open_stores(&cfg).await?;
            let rec = accounts::create(
                stores.accounts.as_ref(),
                &email,
                name.as_deref(),
                admin,
                password.as_deref(),
            )
            .await?;
            eprintln!(
                "created {}account {} ({})",
                if rec.admin { "admin " } else { "" },
                rec.email,
                rec.id
            );
            if password.is_none() {
                let (url, expires) = accounts::password_link(
                    stores.accounts.as_ref(),
                    &rec.email,
                    &cfg.server.public_url,
                )
                .await?;
                eprintln!(
                    "hand this link to them to set a password (it works once, until {expires}):"
                );
                println!("{url}");
            }
            Ok(())
        }
        Command::Accounts(AccountsCommand::Reset { email }) => {
            let stores = open_stores(&cfg).await?;
            let (url, expires) =
                accounts::password_link(stores.accounts.as_ref(), &email, &cfg.server.public_url)
                    .await?;
            eprintln!("a link to set a new password (it works once, until {expires}):");
            println!("{url}");
            Ok(())
        }
        Command::Profiles(ProfilesCommand::Assign { name, email }) => {
            let stores = open_stores(&cfg).await?;
            accounts::assign(
                stores.accounts.as_ref(),
                stores.profiles.as_ref(),
                &name,
                &email,
            )
            .await?;
            eprintln!("{email} now owns {name}");
            Ok(())
        }
        Command::DefaultConfig | Command::Openapi => Ok(()),
    }
}

async fn serve(cfg: Config, with_demo: bool) -> anyhow::Result<()> {
    let stores = open_stores(&cfg).await?;
    if with_demo && demo::ensure(stores.profiles.as_ref()).await? {
        tracing::info!("loaded the demo profile");
    }
    let app = Application::build_with(&cfg, stores).await?;
    tracing::info!(
        "linkleaf listening on http://{} (metrics and health on http://{}), {} worker(s), at most {} connections",
        app.addr(),
        app.ops_addr(),
        cfg.workers(),
        app.limits().max_connections
    );
    if with_demo {
        tracing::info!(
            "the demo page is at {}/{}",
            cfg.server.public_url.trim_end_matches('/'),
            demo::USERNAME
        );
    }
    app.run_until_stopped(shutdown_signal()).await
}
