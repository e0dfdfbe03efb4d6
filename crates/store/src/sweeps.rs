//! Sweeps and their trials: a sweep's spec, each point's parameters and the point's latest job,
//! and the metric series that compare and prune trials.

use std::collections::{BTreeMap, HashMap};

use mlbench_domain::sweep::{Params, SweepSpec};
use mlbench_domain::{JobState, RuntimeKind};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::db::{Store, now};
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct SweepRecord {
    pub id: i64,
    pub spec: SweepSpec,
    /// Where its trials run.
    pub runtime: RuntimeKind,
    pub created_at: String,
    /// Set when no trial was left to run or running; cleared by a resume.
    pub finished_at: Option<String>,
    pub stop_requested: bool,
    /// Why the sweep stopped by itself (a trial could not be submitted).
    pub detail: Option<String>,
}

impl SweepRecord {
    /// running, finished or stopped.
    pub fn state(&self) -> &'static str {
        if self.stop_requested {
            "stopped"
        } else if self.finished_at.is_some() {
            "finished"
        } else {
            "running"
        }
    }
}

/// One point of a sweep and where its latest job stands.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialStatus {
    pub point: usize,
    pub params: Params,
    pub job: Option<i64>,
    pub state: Option<JobState>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

fn json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(Error::from)
}

fn sweep_from_row(row: &rusqlite::Row) -> rusqlite::Result<SweepRecord> {
    let bad = |i: usize, what: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, what.into())
    };
    let spec: String = row.get(1)?;
    let runtime: String = row.get(2)?;
    Ok(SweepRecord {
        id: row.get(0)?,
        spec: serde_json::from_str(&spec).map_err(|e| bad(1, e.to_string()))?,
        runtime: runtime
            .parse()
            .map_err(|e: mlbench_domain::Error| bad(2, e.to_string()))?,
        created_at: row.get(3)?,
        finished_at: row.get(4)?,
        stop_requested: row.get(5)?,
        detail: row.get(6)?,
    })
}

const SWEEP_COLUMNS: &str =
    "s.id, s.spec, s.runtime, s.created_at, s.finished_at, s.stop_requested, s.detail";

impl Store {
    /// Stores a sweep and its points, none started yet.
    pub fn insert_sweep(&self, spec: &SweepSpec, runtime: RuntimeKind, points: &[Params]) -> Result<i64> {
        let project_id = self.project_id(&spec.base.project)?;
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO sweeps (project_id, spec, runtime, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![project_id, json(spec)?, runtime.as_str(), now()],
        )?;
        let id = tx.last_insert_rowid();
        {
            let mut insert =
                tx.prepare("INSERT INTO trials (sweep_id, point, params) VALUES (?1, ?2, ?3)")?;
            for (point, values) in points.iter().enumerate() {
                insert.execute(params![id, point as i64, json(values)?])?;
            }
        }
        tx.commit()?;
        Ok(id)
    }

    /// The latest sweep of the project with exactly this spec: running it again resumes it.
    pub fn find_sweep(&self, spec: &SweepSpec) -> Result<Option<i64>> {
        let project_id = self.project_id(&spec.base.project)?;
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM sweeps WHERE project_id = ?1 AND spec = ?2 ORDER BY id DESC LIMIT 1",
                params![project_id, json(spec)?],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn sweep(&self, id: i64) -> Result<SweepRecord> {
        self.conn
            .query_row(
                &format!("SELECT {SWEEP_COLUMNS} FROM sweeps s WHERE s.id = ?1"),
                [id],
                sweep_from_row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("sweep {id} does not exist: `mlbench sweeps` lists them")))
    }

    pub fn sweeps(&self, project: Option<&str>) -> Result<Vec<SweepRecord>> {
        let project_id = project.map(|p| self.project_id(p)).transpose()?;
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {SWEEP_COLUMNS} FROM sweeps s WHERE ?1 IS NULL OR s.project_id = ?1 ORDER BY s.id"
        ))?;
        let rows = stmt.query_map([project_id], sweep_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Sweeps that are neither finished nor stopped: each needs a driver.
    pub fn open_sweeps(&self) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM sweeps WHERE finished_at IS NULL AND stop_requested = 0")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Whether the point has a job (one was stored for it since its last resume).
    pub fn trial_has_job(&self, sweep: i64, point: usize) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT job_id IS NOT NULL FROM trials WHERE sweep_id = ?1 AND point = ?2",
            params![sweep, point as i64],
            |r| r.get(0),
        )?)
    }

    /// Marks the sweep finished unless a point still waits for its first job (a resume opened
    /// it meanwhile); true when it is finished now.
    /// Every point of the sweep with where its latest job stands, in point order, read without
    /// the jobs' specs (a sweep may have 10,000 trials, and its driver looks five times a second).
    pub fn trial_statuses(&self, sweep: i64) -> Result<Vec<TrialStatus>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT t.point, t.params, j.id, j.state, j.started_at, j.finished_at
             FROM trials t LEFT JOIN jobs j ON j.id = t.job_id WHERE t.sweep_id = ?1 ORDER BY t.point",
        )?;
        let rows = stmt.query_map([sweep], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut trials = Vec::new();
        for row in rows {
            let (point, values, job, state, started_at, finished_at) = row?;
            trials.push(TrialStatus {
                point: point as usize,
                params: serde_json::from_str(&values).map_err(Error::from)?,
                job,
                state: state.map(|s| s.parse()).transpose()?,
                started_at,
                finished_at,
            });
        }
        Ok(trials)
    }

    pub fn finish_sweep(&self, id: i64) -> Result<bool> {
        self.conn.execute(
            "UPDATE sweeps SET finished_at = ?1 WHERE id = ?2 AND finished_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM trials WHERE sweep_id = ?2 AND job_id IS NULL)",
            params![now(), id],
        )?;
        Ok(self.conn.query_row(
            "SELECT finished_at IS NOT NULL FROM sweeps WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?)
    }

    /// Stops the sweep from starting trials; `why` when it stops itself.
    pub fn request_sweep_stop(&self, id: i64, why: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE sweeps SET stop_requested = 1, detail = ?1 WHERE id = ?2",
            params![why, id],
        )?;
        Ok(())
    }

    /// Opens a sweep again for a resume: the given points lose their latest job (which stays,
    /// with its sweep and parameters) and run again. One transaction, so a driver never sees
    /// the sweep open with the old jobs still in place.
    pub fn reopen_sweep(&self, id: i64, rerun: &[usize]) -> Result<()> {
        let tx = self.write()?;
        tx.execute(
            "UPDATE sweeps SET finished_at = NULL, stop_requested = 0, detail = NULL WHERE id = ?1",
            [id],
        )?;
        {
            let mut clear =
                tx.prepare("UPDATE trials SET job_id = NULL WHERE sweep_id = ?1 AND point = ?2")?;
            for point in rerun {
                clear.execute(params![id, *point as i64])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The jobs of a sweep that may be deleted: refused while it runs (not finished and not
    /// stopped) or has a live trial. Their files go first; [`Store::delete_sweep`] then.
    pub fn removable_sweep(&self, id: i64) -> Result<Vec<i64>> {
        removable_sweep(&self.conn, id)
    }

    /// Deletes a sweep whole: its trials, its jobs and their metrics, in one transaction;
    /// returns the jobs deleted. A sweep that still runs (not finished and not stopped) or has
    /// a live trial refuses the whole deletion.
    pub fn delete_sweep(&self, id: i64) -> Result<Vec<i64>> {
        let tx = self.write()?;
        let jobs = removable_sweep(&tx, id)?;
        tx.execute(
            "DELETE FROM metrics WHERE job_id IN (SELECT id FROM jobs WHERE sweep_id = ?1)",
            [id],
        )?;
        tx.execute("DELETE FROM trials WHERE sweep_id = ?1", [id])?;
        tx.execute("DELETE FROM jobs WHERE sweep_id = ?1", [id])?;
        tx.execute("DELETE FROM sweeps WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(jobs)
    }

    /// The `key` series of each job of the sweep, by job, each in step order.
    pub fn sweep_series(&self, sweep: i64, key: &str) -> Result<HashMap<i64, Vec<(i64, f64)>>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.job_id, m.step, m.value FROM metrics m JOIN jobs j ON j.id = m.job_id
             WHERE j.sweep_id = ?1 AND m.key = ?2 ORDER BY m.job_id, m.step",
        )?;
        let rows = stmt.query_map(params![sweep, key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let mut series: HashMap<i64, Vec<(i64, f64)>> = HashMap::new();
        for row in rows {
            let (job, step, value) = row?;
            series.entry(job).or_default().push((step, value));
        }
        Ok(series)
    }

    /// Every metric series of one job, by key, each in step order.
    pub fn job_series(&self, job: i64) -> Result<BTreeMap<String, Vec<(i64, f64)>>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT key, step, value FROM metrics WHERE job_id = ?1 ORDER BY key, step")?;
        let rows = stmt.query_map([job], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?;
        let mut series: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        for row in rows {
            let (key, step, value) = row?;
            series.entry(key).or_default().push((step, value));
        }
        Ok(series)
    }
}

/// See [`Store::removable_sweep`].
fn removable_sweep(conn: &rusqlite::Connection, id: i64) -> Result<Vec<i64>> {
    let open: bool = conn
        .query_row(
            "SELECT finished_at IS NULL AND stop_requested = 0 FROM sweeps WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no sweep {id}: `mlbench sweeps` lists them")))?;
    if open {
        return Err(Error::Invalid(format!(
            "sweep {id} is running: stop it first with `mlbench sweep stop {id}`"
        )));
    }
    let jobs: Vec<(i64, String)> = {
        let mut stmt = conn.prepare("SELECT id, state FROM jobs WHERE sweep_id = ?1 ORDER BY id")?;
        stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    if let Some((job, state)) = jobs
        .iter()
        .find(|(_, state)| !state.parse::<JobState>().is_ok_and(JobState::is_final))
    {
        return Err(Error::Invalid(format!(
            "trial job {job} of sweep {id} is {state}: wait for it to stop, or `mlbench stop {job}`"
        )));
    }
    Ok(jobs.into_iter().map(|(job, _)| job).collect())
}
