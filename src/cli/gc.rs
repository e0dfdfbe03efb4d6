//! `mlbench gc`: what finished jobs, killed submits and replaced runtime images left, removed
//! (or, with `--dry-run`, listed), and how much that freed.

use mlbench_domain::numfmt::human_bytes;
use mlbench_engine::upkeep::gc::{self, Options};
use mlbench_engine::{AnyRuntime, Engine};

use crate::Result;

pub(crate) async fn gc(
    engine: &Engine,
    older_than: &str,
    keep_failed: bool,
    dry_run: bool,
    json: bool,
) -> Result<()> {
    let options = Options {
        older_than: gc::parse_age(older_than)?,
        keep_failed,
        dry_run,
    };
    // Images are looked at only where an engine answers; the rest needs none.
    let runtime = AnyRuntime::choose(engine, &mut |_| {}).await.ok();
    let freed = gc::collect(engine, runtime.as_ref(), &options).await?;
    if json {
        return super::table::print_json(&freed);
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    let ids: Vec<String> = freed.jobs.iter().take(10).map(ToString::to_string).collect();
    let more = if freed.jobs.len() > ids.len() { ", …" } else { "" };
    println!(
        "{verb} the logs and workspaces of {} finished job(s) older than {older_than}{}: {}",
        freed.jobs.len(),
        if ids.is_empty() {
            String::new()
        } else {
            format!(" ({}{more})", ids.join(", "))
        },
        human_bytes(freed.job_bytes)
    );
    println!(
        "{verb} {} code snapshot(s) no remaining job runs: {}",
        freed.snapshots,
        human_bytes(freed.snapshot_bytes)
    );
    println!(
        "{verb} {} staging leftover(s) of killed submits: {}",
        freed.staging,
        human_bytes(freed.staging_bytes)
    );
    match &freed.images_skipped {
        Some(why) => println!("{why}"),
        None => println!(
            "{verb} {} runtime image(s) a newer build replaced: {}",
            freed.images.len(),
            human_bytes(freed.image_bytes)
        ),
    }
    if !engine.config.engines.is_empty() {
        println!(
            "{verb} {} volume(s) of code and ended jobs' layers on remote engines{}",
            freed.remote_volumes.len(),
            if freed.remote_volumes.is_empty() {
                String::new()
            } else {
                format!(": {}", freed.remote_volumes.join(", "))
            }
        );
    }
    for skipped in &freed.engines_skipped {
        println!("not looked at: engine {skipped}");
    }
    println!(
        "{} {} (jobs stay listed with their metrics; projects' /storage is never touched)",
        if dry_run { "would free" } else { "freed" },
        human_bytes(freed.total_bytes())
    );
    Ok(())
}
