//! `thoonk`: a thin command line over the `thoonk` library.
//!
//! # Layout
//! - `cli`: the global flags (`--redis`, `--tls-ca`, `--cluster`) and the
//!   subcommands; `connect`: where those flags point, and the connection.
//! - `cmd`: one module per subcommand, its flags beside its `run`.
//! - `exit`: exit codes, and the error that ends a command early.
//! - `args`, `signal`: what several commands share.

mod args;
mod children;
mod cli;
mod cmd;
mod connect;
mod exit;
mod signal;

use clap::Parser;
use cli::{Cli, Command};
use exit::{Exit, Fatal};
use std::process::ExitCode;

/// A worker allocates a little for every job (ids, payloads, replies);
/// mimalloc does that at a fraction of glibc's cost (measured: ~25% of the
/// process phase's client CPU went to glibc malloc).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Parse errors exit 2 with clap's usage message; --help exits 0.
    let cli = Cli::parse();
    if !cli.cluster && cli.urls().len() > 1 {
        <Cli as clap::CommandFactory>::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "several --redis URLs are the seed nodes of a cluster: add --cluster",
            )
            .exit();
    }
    // Logs (from `work`) go to stderr; RUST_LOG overrides the level.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // The redis crate's own notes (a seed node down, a slot
                // refresh) are for debugging; ours say what matters.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,redis=error")),
        )
        .init();
    // One thread: every command here waits on Redis, not on the CPU, and a
    // request that stays on one thread skips a cross-thread wake-up at each
    // hop (measured: one-by-one publish ~20% faster, latency ~20% lower).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let exit = match runtime.block_on(run(cli)) {
        Ok(()) => Exit::Done,
        Err(Fatal(exit, message)) => {
            // A closed stdout ends quietly (see `Fatal`'s `From<io::Error>`).
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            exit
        }
    };
    ExitCode::from(exit as u8)
}

async fn run(cli: Cli) -> Result<(), Fatal> {
    if let Command::Guard = cli.command {
        // Needs no Redis: it watches a `work` process, not a queue.
        children::guard();
        return Ok(());
    }
    if let Command::Dashboard(args) = &cli.command {
        // A weak token is refused before Redis is even asked.
        args.check()?;
    }
    let target = connect::Target::of(&cli);
    let thoonk = target.connect().await?;
    let connection_env = cli.connection_env();
    match cli.command {
        Command::Publish(args) => cmd::publish::run(&thoonk, args).await,
        Command::Get(args) => cmd::get::run(&thoonk, args).await,
        Command::Finish(args) => cmd::finish::run(&thoonk, args).await,
        Command::Cancel(args) => cmd::cancel::run(&thoonk, args).await,
        Command::Stall(args) => cmd::stall::run(&thoonk, args).await,
        Command::Retry(args) => cmd::retry::run(&thoonk, args).await,
        Command::Retract(args) => cmd::retract::run(&thoonk, args).await,
        Command::Stats(args) => cmd::stats::run(&thoonk, args).await,
        Command::Pause(args) => cmd::pause::run(&thoonk, args).await,
        Command::Progress(args) => cmd::progress::run(&thoonk, args).await,
        Command::Resume(args) => cmd::resume::run(&thoonk, args).await,
        Command::Config(args) => cmd::config::run(&thoonk, args).await,
        Command::Schedule(args) => cmd::schedule::run(&thoonk, args).await,
        Command::List(args) => cmd::list::run(&thoonk, args).await,
        Command::Events(args) => cmd::events::run(&thoonk, args).await,
        Command::Dashboard(args) => cmd::dashboard::run(thoonk, args).await,
        Command::Bench(args) => cmd::bench::run(&thoonk, &target, args).await,
        Command::Work(args) => cmd::work::run(&thoonk, args, connection_env).await,
        Command::Guard => unreachable!("served before connecting"),
    }
}
