//! `kaizen serve`: the REST API, the web UI, the scheduler and the rollout engine in one
//! process (`kaizen_server`).

use std::sync::Arc;

use anyhow::{Context, Result};
use kaizen_core::clock::SystemClock;
use kaizen_server::AppState;
use kaizen_service::rollback::RollbackExecutor;
use kaizen_store::mutators::FileMutator;

use super::{Ctx, usage};

/// Options of `kaizen serve`.
pub struct ServeArgs {
    /// Overrides `server.bind`.
    pub bind: Option<String>,
    /// Directory to write each new org version to (the file mutator).
    pub notify_dir: Option<std::path::PathBuf>,
}

pub fn run(ctx: Ctx, args: ServeArgs) -> Result<()> {
    let mut config = ctx.settings();
    if let Some(bind) = args.bind {
        config.server.bind = bind;
    }
    let addr: std::net::SocketAddr = config.server.bind.parse().map_err(|_| {
        usage(format!(
            "--bind / server.bind: expected an address like 127.0.0.1:7878, found {:?}",
            config.server.bind
        ))
    })?;
    let store = ctx.open_store()?;
    let mut executor = RollbackExecutor::default();
    if let Some(dir) = args.notify_dir {
        if !dir.is_dir() {
            return Err(usage(format!(
                "--notify-dir: {} is not a directory",
                dir.display()
            )));
        }
        executor.add_notifier(Box::new(FileMutator::new(dir)));
    }
    kaizen_server::telemetry::init();
    prepare_process(config.server.max_connections);
    let state = Arc::new(AppState::new(
        store,
        config,
        Arc::new(SystemClock),
        executor,
    ));
    if let Some(secret) = kaizen_server::first_start_token(&state)
        .map_err(|e| anyhow::anyhow!("creating the first admin token: {}", e.message))?
    {
        eprintln!(
            "No API token existed, so kaizen created one for the human principal `admin` with all capabilities.\n\
             It is shown this once; store it now (kaizen keeps only its hash):\n\n    {secret}\n\n\
             Create narrower tokens with `kaizen token create`, and revoke this one when you have."
        );
    }
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: listening on {addr}, which is not a loopback address: anyone who can reach it can try tokens; put TLS in front of it"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| usage(format!("cannot listen on {addr}: {e}")))?;
        let local = listener.local_addr().context("reading the bound address")?;
        eprintln!(
            "kaizen serve: http://{local}/ui (web UI) · http://{local}/api/v1/docs (API) · store {} · Ctrl-C stops",
            ctx.store_path.display()
        );
        kaizen_server::serve(state, listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")?;
        eprintln!("kaizen serve: stopped");
        Ok(())
    })
}

/// File descriptors kept free beyond `server.max_connections` (the store's files, the listener,
/// the log).
const SPARE_FDS: libc::rlim_t = 64;

/// Process settings a long-running server needs:
/// * a write past a file size limit (`ulimit -f`) fails with an error — a 503 saying the store
///   cannot be written — instead of killing the process with `SIGXFSZ`;
/// * the soft limit on open files is raised to the hard limit, and a warning names
///   `server.max_connections` when even that cannot hold them (accepting would then fail with
///   "Too many open files" before the connection cap is reached).
fn prepare_process(max_connections: u32) {
    // SAFETY: setting a signal's disposition to "ignore" before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct passed, nothing else.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
        limit.rlim_cur
    };
    let need = libc::rlim_t::from(max_connections) + SPARE_FDS;
    if soft < need {
        eprintln!(
            "warning: the open-file limit is {soft}, below server.max_connections ({max_connections}) + {SPARE_FDS}: lower server.max_connections or raise the limit (ulimit -n)"
        );
    }
}
