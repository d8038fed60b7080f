//! `serve`: hsp-serve on a tokio runtime, with the binary's option-file
//! reader for `defaults_file`.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::args::ServeArgs;

pub(crate) fn run(args: &ServeArgs) -> Result<ExitCode> {
    let opts = hsp_serve::Options {
        listen: args.listen,
        config: args.config.clone(),
        targets: args.targets.clone(),
        interval: args.interval,
        defaults: crate::optfile::credentials,
        drain: args.drain,
    };
    if args.check {
        let cfg = hsp_serve::config::Config::load(
            opts.config.as_deref(),
            &opts.targets,
            opts.interval,
            opts.defaults,
        )?;
        println!(
            "ok: {} module(s), {} target(s)",
            cfg.modules.len(),
            cfg.targets.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(hsp_serve::serve(opts, |addr| {
        eprintln!("serving on http://{addr}/metrics and /probe");
    }))?;
    Ok(ExitCode::SUCCESS)
}
