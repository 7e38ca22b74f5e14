//! `kaizen mcp`: the MCP server over stdio (`kaizen_server::mcp`), acting with one token.
//!
//! stdout carries the protocol; everything else (logs, errors) goes to stderr.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use kaizen_core::clock::SystemClock;
use kaizen_server::AppState;
use kaizen_server::mcp::KaizenMcp;
use kaizen_service::rollback::RollbackExecutor;
use rmcp::ServiceExt;

use super::{Ctx, usage};

/// Reads the token from `path`: one line, `kz_…`.
fn read_token(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("--token-file {}: {e}", path.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(usage(format!(
            "--token-file {}: the file is empty; put the token (kz_…) in it",
            path.display()
        )));
    }
    if token.lines().count() > 1 {
        return Err(usage(format!(
            "--token-file {}: expected one line holding the token",
            path.display()
        )));
    }
    Ok(token.to_owned())
}

pub fn run(ctx: Ctx, token_file: &Path) -> Result<()> {
    let token = read_token(token_file)?;
    let store = ctx.open_store()?;
    let state = Arc::new(AppState::new(
        store,
        ctx.settings(),
        Arc::new(SystemClock),
        RollbackExecutor::default(),
    ));
    let caller = kaizen_server::mcp::check_token(&state, &token).map_err(|e| {
        usage(format!(
            "--token-file {}: {}",
            token_file.display(),
            e.message
        ))
    })?;
    let tools = kaizen_server::mcp::visible_tools(&state, &caller).len();
    tracing::info!(
        principal = %caller.auth.principal,
        tools,
        store = %ctx.store_path.display(),
        "kaizen mcp: serving MCP on stdio"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = KaizenMcp::with_token(state, &token)
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| anyhow!("starting the MCP session: {e}"))?;
        server
            .waiting()
            .await
            .map_err(|e| anyhow!("the MCP session failed: {e}"))?;
        Ok(())
    })
}
