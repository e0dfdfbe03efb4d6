//! Where a new job goes: the engine it names, or, with `--engine auto` (every engine) or a list
//! (`--engine a,b`), the engine among them where its machine type fits now with the most vCPUs
//! left; when it fits none now, the one with the shortest queue among those it can ever fit,
//! which is the first to free up as far as mlbench can tell. A sweep's trials are placed one
//! by one, each seeing the trials placed before it, so they spread.

use futures_util::future::LocalBoxFuture;
use mlbench_domain::engine::AUTO_ENGINE;
use mlbench_domain::{Capacity, LOCAL_ENGINE, MachineType};
use mlbench_runtime::Runtime;

use crate::{Engine, Error, Result};

/// What a job asks of its engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// This engine.
    One(String),
    /// Whichever of these fits best (`auto`: all of them).
    Among(Vec<String>),
}

impl Choice {
    /// Reads `--engine`: a name, `auto`, or names with commas; each checked against the config.
    pub fn parse(engine: &Engine, text: &str) -> Result<Choice> {
        let text = text.trim();
        if text.is_empty() || text == LOCAL_ENGINE {
            return Ok(Choice::One(LOCAL_ENGINE.into()));
        }
        if text == AUTO_ENGINE {
            return Ok(Choice::Among(super::names(engine)));
        }
        let names: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        for name in &names {
            engine.config.engine(name)?;
        }
        Ok(match names.as_slice() {
            [one] => Choice::One(one.clone()),
            _ => Choice::Among(names),
        })
    }
}

/// What `total` leaves once the jobs holding `held` (their machine types' names) have theirs.
pub(crate) fn free(engine: &Engine, total: &Capacity, held: &[String]) -> Capacity {
    let mut free = *total;
    for name in held {
        // A type since removed from the config holds nothing mlbench can still count.
        if let Ok(machine) = engine.config.machine(name) {
            free.cpus -= machine.cpus;
            free.memory_bytes = free.memory_bytes.saturating_sub(machine.memory_bytes);
            free.gpus = free.gpus.saturating_sub(machine.gpus);
        }
    }
    free.cpus = free.cpus.max(0.0);
    free
}

/// How one candidate engine stands for a job of `machine`.
struct Standing {
    name: String,
    fits_now: bool,
    free_cpus: f64,
    queued: usize,
}

/// The engine a job of `machine` goes to under `choice`. An engine that does not answer, or
/// that can never hold the machine type, is passed over; when every one is, the refusal says
/// why for each.
pub fn place<'a>(
    engine: &'a Engine,
    choice: &'a Choice,
    machine: &'a MachineType,
) -> LocalBoxFuture<'a, Result<String>> {
    Box::pin(async move {
        let names = match choice {
            Choice::One(name) => return Ok(name.clone()),
            Choice::Among(names) => names,
        };
        let mut standings = Vec::new();
        let mut passed_over = Vec::new();
        for name in names {
            match standing(engine, name, machine).await {
                Ok(Some(standing)) => standings.push(standing),
                Ok(None) => passed_over.push(format!("{name}: too small for {}", machine.name)),
                Err(err) => passed_over.push(format!(
                    "{name}: {}",
                    mlbench_domain::error::brief(&err.to_string())
                )),
            }
        }
        best(standings).ok_or_else(|| {
            Error::Invalid(format!(
                "no engine can take a job of machine type {} ({}): `mlbench engines` shows each",
                machine.name,
                passed_over.join("; ")
            ))
        })
    })
}

/// Where `name` stands for `machine`; `None` when the engine can never hold it.
async fn standing(engine: &Engine, name: &str, machine: &MachineType) -> Result<Option<Standing>> {
    let docker = super::connect(engine, name).await?;
    let total = docker.capacity().await?;
    if machine.shortfall(&total).is_some() {
        return Ok(None);
    }
    let load = engine.store.engine_load(name)?;
    let free = free(engine, &total, &load.held);
    Ok(Some(Standing {
        name: name.to_string(),
        fits_now: load.queued == 0 && machine.shortfall(&free).is_none(),
        free_cpus: free.cpus,
        queued: load.queued,
    }))
}

/// The engine that fits now with the most vCPUs left, else the shortest queue (earlier in the
/// list first on a tie).
fn best(standings: Vec<Standing>) -> Option<String> {
    let now = standings
        .iter()
        .filter(|s| s.fits_now)
        .fold(None::<&Standing>, |best, s| match best {
            Some(b) if b.free_cpus >= s.free_cpus => Some(b),
            _ => Some(s),
        });
    if let Some(now) = now {
        return Some(now.name.clone());
    }
    standings
        .iter()
        .fold(None::<&Standing>, |best, s| match best {
            Some(b) if b.queued <= s.queued => Some(b),
            _ => Some(s),
        })
        .map(|s| s.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(name: &str, fits_now: bool, free_cpus: f64, queued: usize) -> Standing {
        Standing {
            name: name.into(),
            fits_now,
            free_cpus,
            queued,
        }
    }

    #[test]
    fn a_job_goes_where_it_fits_now_with_most_room_else_to_the_shortest_queue() {
        let pick = |s: Vec<Standing>| best(s).unwrap();
        assert_eq!(
            pick(vec![
                standing("local", true, 1.0, 0),
                standing("gpu1", true, 6.0, 0),
                standing("gpu2", false, 0.0, 0)
            ]),
            "gpu1"
        );
        assert_eq!(
            pick(vec![
                standing("local", false, 0.0, 3),
                standing("gpu1", false, 0.0, 1),
                standing("gpu2", false, 0.5, 2)
            ]),
            "gpu1"
        );
        assert_eq!(
            pick(vec![standing("a", true, 2.0, 0), standing("b", true, 2.0, 0)]),
            "a",
            "a tie goes to the first named"
        );
        assert!(best(Vec::new()).is_none());
    }
}
