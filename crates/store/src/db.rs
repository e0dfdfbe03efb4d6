//! SQLite schema, migrations and queries.

use std::path::Path;
use std::time::Duration;

use mlbench_domain::machine::pick_devices;
use mlbench_domain::sweep::Params;
use mlbench_domain::{Capacity, JobSpec, JobState, MachineType, PortInUse, PortMapping, RuntimeKind};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use serde::Serialize;

use crate::home::Home;
use crate::{Error, Result};

/// Each entry moves the schema one version up; `PRAGMA user_version` records how far a file is.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        spec TEXT NOT NULL,
        runtime TEXT NOT NULL,
        state TEXT NOT NULL,
        commit_sha TEXT,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        exit_code INTEGER,
        detail TEXT,
        handle TEXT,
        supervisor_pid INTEGER,
        stop_requested INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_by_state ON jobs(state);",
    "CREATE TABLE metrics (
        job_id INTEGER NOT NULL REFERENCES jobs(id),
        key TEXT NOT NULL,
        step INTEGER NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (job_id, key, step)
    ) WITHOUT ROWID;",
    "CREATE TABLE sweeps (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        spec TEXT NOT NULL,
        runtime TEXT NOT NULL,
        created_at TEXT NOT NULL,
        finished_at TEXT,
        stop_requested INTEGER NOT NULL DEFAULT 0,
        detail TEXT
    );
    CREATE TABLE trials (
        sweep_id INTEGER NOT NULL REFERENCES sweeps(id),
        point INTEGER NOT NULL,
        params TEXT NOT NULL,
        job_id INTEGER REFERENCES jobs(id),
        PRIMARY KEY (sweep_id, point)
    ) WITHOUT ROWID;
    ALTER TABLE jobs ADD COLUMN sweep_id INTEGER REFERENCES sweeps(id);
    ALTER TABLE jobs ADD COLUMN params TEXT;
    CREATE INDEX jobs_by_sweep ON jobs(sweep_id);
    CREATE INDEX jobs_by_project ON jobs(project_id, state);
    ALTER TABLE jobs ADD COLUMN devices TEXT;",
    "ALTER TABLE jobs ADD COLUMN node TEXT;
    ALTER TABLE jobs ADD COLUMN node_address TEXT;",
    "ALTER TABLE jobs ADD COLUMN cleaned_at TEXT;
    ALTER TABLE jobs ADD COLUMN snapshot TEXT;",
    "ALTER TABLE jobs ADD COLUMN trouble TEXT;",
    "ALTER TABLE jobs ADD COLUMN engine TEXT NOT NULL DEFAULT 'local';
    CREATE INDEX jobs_by_engine ON jobs(engine, state);",
];

/// The schema version this mlbench writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// The schema version of the store file at `path`, read without writing to it.
pub fn file_schema_version(path: &Path) -> Result<usize> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// What code a new job runs: the commit it came from, and the snapshot that holds it.
#[derive(Debug, Clone, Copy)]
pub struct Code<'a> {
    pub commit: Option<&'a str>,
    pub snapshot: Option<&'a str>,
}

/// What an engine's jobs hold and wait for (see [`Store::engine_load`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineLoad {
    /// The machine type of each job holding capacity there.
    pub held: Vec<String>,
    /// Jobs waiting in its queue.
    pub queued: usize,
}

/// Whether a queued job was taken from the queue, or what it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Claimed,
    Waits(String),
}

impl Claim {
    pub fn is_claimed(&self) -> bool {
        *self == Claim::Claimed
    }
}

/// One metric series of a job, summed up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSummary {
    pub key: String,
    pub last: f64,
    pub min: f64,
    pub max: f64,
    pub count: i64,
    /// The whole series in at most `SHAPE_POINTS` values, oldest first (each the mean of
    /// its stretch of steps), for sparklines: a falling loss shows from its start.
    pub shape: Vec<f64>,
}

pub(crate) const SHAPE_POINTS: usize = 32;

#[derive(Debug, Clone, Serialize)]
pub struct ProjectRecord {
    pub name: String,
    pub created_at: String,
    pub jobs: i64,
    pub running: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    pub id: i64,
    pub spec: JobSpec,
    pub runtime: RuntimeKind,
    pub state: JobState,
    pub commit: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i64>,
    /// Why a job waits, or why it failed before its command ran.
    pub detail: Option<String>,
    /// The container id (Docker) or process id (local) once launched.
    pub handle: Option<String>,
    pub supervisor_pid: Option<i64>,
    pub stop_requested: bool,
    /// Its stop was asked for by its sweep's median rule: it ends `pruned`.
    pub prune_requested: bool,
    /// The sweep this job is a trial of, and the trial's parameters.
    pub sweep: Option<i64>,
    pub params: Option<Params>,
    /// The GPUs (by index) the job holds while it runs; given when it leaves the queue.
    pub devices: Vec<u32>,
    /// The cluster node its task was placed on (Swarm), and that node's address: where the
    /// ports a serving job publishes answer.
    pub node: Option<String>,
    pub node_address: Option<String>,
    /// When `mlbench gc` removed its log and workspace (its row and metrics stay).
    pub cleaned_at: Option<String>,
    /// The shared snapshot of its code (a folder under the home's `snapshots/`), if it has one.
    pub snapshot: Option<String>,
    /// What keeps a live job's supervisor from following it right now, and since when ("disk
    /// full since 14:02"); cleared when it follows again and when the job ends.
    pub trouble: Option<String>,
    /// The Docker Engine it runs on: `local`, or a name from the config's `[engines]`.
    pub engine: String,
}

impl JobRecord {
    /// Its state as a user reads it: with what keeps it from being followed, while it lives
    /// (`running (disk full since 14:02)`).
    pub fn state_shown(&self) -> String {
        match &self.trouble {
            Some(trouble) if !self.state.is_final() => format!("{} ({trouble})", self.state),
            _ => self.state.to_string(),
        }
    }

    /// The end someone asked for, which wins over how the process exited.
    pub fn requested_end(&self) -> Option<JobState> {
        if self.prune_requested {
            Some(JobState::Pruned)
        } else if self.stop_requested {
            Some(JobState::Stopped)
        } else {
            None
        }
    }
}

/// A job that is one trial of a sweep: which sweep, which of its points, with what values.
pub struct TrialOf<'a> {
    pub sweep: i64,
    pub point: usize,
    pub params: &'a Params,
}

const JOB_COLUMNS: &str = "j.id, j.spec, j.runtime, j.state, j.commit_sha, j.created_at, j.started_at, \
     j.finished_at, j.exit_code, j.detail, j.handle, j.supervisor_pid, j.stop_requested, j.sweep_id, j.params, j.devices, j.node, j.node_address, j.cleaned_at, j.snapshot, j.trouble, j.engine";

fn job_from_row(row: &Row) -> rusqlite::Result<JobRecord> {
    let spec: String = row.get(1)?;
    let runtime: String = row.get(2)?;
    let state: String = row.get(3)?;
    let bad = |i: usize, what: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, what.into())
    };
    Ok(JobRecord {
        id: row.get(0)?,
        spec: serde_json::from_str(&spec).map_err(|e| bad(1, e.to_string()))?,
        runtime: runtime
            .parse()
            .map_err(|e: mlbench_domain::Error| bad(2, e.to_string()))?,
        state: state
            .parse()
            .map_err(|e: mlbench_domain::Error| bad(3, e.to_string()))?,
        commit: row.get(4)?,
        created_at: row.get(5)?,
        started_at: row.get(6)?,
        finished_at: row.get(7)?,
        exit_code: row.get(8)?,
        detail: row.get(9)?,
        handle: row.get(10)?,
        supervisor_pid: row.get(11)?,
        stop_requested: row.get::<_, i64>(12)? != 0,
        prune_requested: row.get::<_, i64>(12)? == STOP_TO_PRUNE,
        sweep: row.get(13)?,
        params: row
            .get::<_, Option<String>>(14)?
            .map(|p| serde_json::from_str(&p).map_err(|e| bad(14, e.to_string())))
            .transpose()?,
        devices: parse_devices(row.get::<_, Option<String>>(15)?.as_deref()),
        node: row.get(16)?,
        node_address: row.get(17)?,
        cleaned_at: row.get(18)?,
        snapshot: row.get(19)?,
        trouble: row.get(20)?,
        engine: row.get(21)?,
    })
}

/// `jobs.devices`: GPU indices, comma-separated.
fn parse_devices(text: Option<&str>) -> Vec<u32> {
    text.unwrap_or("")
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect()
}

/// Refuses `ports` when a live job (queued ones too) already claims one of them, naming the
/// holder ("job N" or "job N of deployment D"). The replicas of `shared_by`, a deployment on a
/// swarm, share its port: Swarm gives each a node of its own.
fn refuse_claimed(conn: &Connection, ports: &[PortMapping], shared_by: Option<&str>) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let mut stmt =
        conn.prepare("SELECT id, spec FROM jobs WHERE state IN ('queued', 'preparing', 'running')")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (id, other) = row?;
        let other: JobSpec = serde_json::from_str(&other).map_err(Error::from)?;
        if shared_by.is_some() && other.deployment.as_deref() == shared_by {
            continue;
        }
        if let Some(port) = ports.iter().find(|p| other.ports.iter().any(|o| o.overlaps(p))) {
            return Err(Error::PortInUse(PortInUse {
                ip: port.host_ip,
                port: port.host_port,
                holder: Some(other.holder(id)),
                source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
            }));
        }
    }
    Ok(())
}

/// `jobs.stop_requested` when the stop is a prune (1 is a plain stop).
const STOP_TO_PRUNE: i64 = 2;

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub struct Store {
    pub(super) conn: Connection,
}

/// The schema version the file says it has; one no mlbench writes (below zero) is damage.
fn schema_version(conn: &Connection, path: &Path) -> Result<usize> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    usize::try_from(version).map_err(|_| {
        Error::Invalid(format!(
            "{} says its schema version is {version}, which no mlbench writes: the file is damaged; restore it, or set MLBENCH_HOME to another home",
            path.display()
        ))
    })
}

impl Store {
    pub fn open(home: &Home) -> Result<Store> {
        // An empty (or missing) store beside jobs' files is a lost store, not a new home:
        // starting afresh would hand out job 1 again and overwrite its log.
        let empty = std::fs::metadata(home.db_path()).map_or(true, |m| m.len() == 0);
        if empty && home.has_job_files() {
            return Err(Error::Invalid(format!(
                "{} is empty but this home holds jobs' files ({}): the store was lost or truncated; restore it, or move that folder aside to start afresh",
                home.db_path().display(),
                home.jobs_root().display()
            )));
        }
        let path = home.private_db_path()?;
        let conn = Connection::open(&path)?;
        // A newer mlbench's file is refused before anything here writes to it (even the
        // journal mode below is a write).
        let version = schema_version(&conn, &path)?;
        if version > MIGRATIONS.len() {
            return Err(Error::NewerSchema {
                path: path.clone(),
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        // Supervisors, the CLI and the TUI write at once: WAL lets readers go on, and the busy
        // timeout makes writers queue instead of failing.
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // In WAL mode NORMAL never corrupts the file; a power cut may lose the last commits,
        // which reconciling with the engine repairs. FULL would fsync on every state change.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let store = Store { conn };
        store.migrate(&path)?;
        Ok(store)
    }

    fn migrate(&self, path: &Path) -> Result<()> {
        // Every command and supervisor opens the store: an up-to-date file needs no write lock.
        if schema_version(&self.conn, path)? == MIGRATIONS.len() {
            return Ok(());
        }
        let tx = self.write()?;
        let version = schema_version(&tx, path)?;
        if version > MIGRATIONS.len() {
            return Err(Error::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Changes whenever another connection commits: a cheap "has anything changed?".
    /// A write transaction that takes the lock at once (no upgrade deadlock between two
    /// writers). The connection is never shared across threads and no transaction spans an
    /// await, so a transaction through `&self` cannot overlap another on this connection.
    pub(super) fn write(&self) -> Result<Transaction<'_>> {
        Ok(Transaction::new_unchecked(
            &self.conn,
            TransactionBehavior::Immediate,
        )?)
    }

    pub fn data_version(&self) -> Result<i64> {
        Ok(self.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    pub fn create_project(&self, name: &str) -> Result<()> {
        mlbench_domain::project::validate_name(name)?;
        let inserted = self.conn.execute(
            "INSERT INTO projects (name, created_at) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
            params![name, now()],
        )?;
        if inserted == 0 {
            return Err(Error::Invalid(format!("project {name} already exists")));
        }
        Ok(())
    }

    pub fn projects(&self) -> Result<Vec<ProjectRecord>> {
        let mut stmt = self.conn.prepare(
            // Counted from the (project, state) index: a join over 100,000 jobs took 50 ms.
            "SELECT p.name, p.created_at,
                    (SELECT COUNT(*) FROM jobs j WHERE j.project_id = p.id),
                    (SELECT COUNT(*) FROM jobs j WHERE j.project_id = p.id AND j.state = 'running')
             FROM projects p ORDER BY p.name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ProjectRecord {
                name: r.get(0)?,
                created_at: r.get(1)?,
                jobs: r.get(2)?,
                running: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub(super) fn project_id(&self, name: &str) -> Result<i64> {
        self.conn
            .query_row("SELECT id FROM projects WHERE name = ?1", [name], |r| r.get(0))
            .optional()?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "project {name} does not exist: create it with `mlbench project create {name}`"
                ))
            })
    }

    pub fn require_project(&self, name: &str) -> Result<()> {
        self.project_id(name).map(|_| ())
    }

    /// Refuses `ports` that one of this home's live jobs claims (but the replicas of
    /// `shared_by`, a deployment on a swarm).
    pub fn refuse_claimed_ports(&self, ports: &[PortMapping], shared_by: Option<&str>) -> Result<()> {
        refuse_claimed(&self.conn, ports, shared_by)
    }

    pub fn insert_job(&self, spec: &JobSpec, runtime: RuntimeKind, commit: Option<&str>) -> Result<i64> {
        let code = Code {
            commit,
            snapshot: None,
        };
        self.insert_placed_job(spec, runtime, mlbench_domain::LOCAL_ENGINE, &code, None, |_| {
            Ok(())
        })
    }

    /// Stores a new queued job and, in the same transaction, calls `place` with its id to put
    /// its files in place: a process killed before the commit leaves no job row, so no
    /// supervisor ever starts a job whose workspace is missing. A trial's job becomes its
    /// point's latest job in the same transaction.
    pub fn insert_placed_job(
        &self,
        spec: &JobSpec,
        runtime: RuntimeKind,
        engine: &str,
        code: &Code<'_>,
        trial: Option<TrialOf<'_>>,
        place: impl FnOnce(i64) -> Result<()>,
    ) -> Result<i64> {
        let project_id = self.project_id(&spec.project)?;
        let spec_json = serde_json::to_string(spec).map_err(Error::from)?;
        let tx = self.write()?;
        // Host ports are claimed here, with the queue: a job waiting for capacity holds its
        // ports as a running one does, so a second job cannot take them meanwhile.
        let shared_by = spec
            .deployment
            .as_deref()
            .filter(|_| runtime == RuntimeKind::Swarm);
        refuse_claimed(&tx, &spec.ports, shared_by)?;
        let params_json = trial
            .as_ref()
            .map(|t| serde_json::to_string(t.params))
            .transpose()
            .map_err(Error::from)?;
        tx.execute(
            "INSERT INTO jobs (project_id, spec, runtime, state, commit_sha, created_at, sweep_id, params, snapshot, engine)
             VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                project_id,
                spec_json,
                runtime.as_str(),
                code.commit,
                now(),
                trial.as_ref().map(|t| t.sweep),
                params_json,
                code.snapshot,
                engine
            ],
        )?;
        let id = tx.last_insert_rowid();
        if let Some(trial) = &trial {
            tx.execute(
                "UPDATE trials SET job_id = ?1 WHERE sweep_id = ?2 AND point = ?3",
                params![id, trial.sweep, trial.point as i64],
            )?;
        }
        place(id)?;
        tx.commit()?;
        Ok(id)
    }

    pub fn job(&self, id: i64) -> Result<JobRecord> {
        self.conn
            .query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.id = ?1"),
                [id],
                job_from_row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("job {id} does not exist: `mlbench jobs` lists them")))
    }

    /// Where the job is in its life, without reading the rest of it.
    pub fn job_state(&self, id: i64) -> Result<JobState> {
        let state: String = self
            .conn
            .query_row("SELECT state FROM jobs WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("job {id} does not exist: `mlbench jobs` lists them")))?;
        Ok(state.parse()?)
    }

    pub fn jobs(&self, project: Option<&str>) -> Result<Vec<JobRecord>> {
        let project_id = project.map(|p| self.project_id(p)).transpose()?;
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs j WHERE ?1 IS NULL OR j.project_id = ?1 ORDER BY j.id"
        ))?;
        let rows = stmt.query_map([project_id], job_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest `count` jobs and every live one, oldest first: what a first look at a long
    /// history needs (the top of each list, and what still runs).
    pub fn recent_jobs(&self, count: usize) -> Result<Vec<JobRecord>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs j WHERE j.id > (SELECT COALESCE(MAX(id), 0) FROM jobs) - ?1
             UNION SELECT {JOB_COLUMNS} FROM jobs j WHERE j.state IN ('queued', 'preparing', 'running')
             ORDER BY 1"
        ))?;
        let rows = stmt.query_map([count as i64], job_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn live_jobs(&self) -> Result<Vec<JobRecord>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs j WHERE j.state IN ('queued', 'preparing', 'running') ORDER BY j.id"
        ))?;
        let rows = stmt.query_map([], job_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Moves a job to `next` if the state machine allows it from where the job is now, and
    /// applies `extra` (column = value pairs) in the same transaction. Returns false when the
    /// job had already moved elsewhere (another process got there first).
    fn transition(&self, id: i64, next: JobState, extra: &[(&str, &dyn rusqlite::ToSql)]) -> Result<bool> {
        let tx = self.write()?;
        let current: String = tx.query_row("SELECT state FROM jobs WHERE id = ?1", [id], |r| r.get(0))?;
        let current: JobState = current.parse()?;
        if !current.can_become(next) {
            return Ok(false);
        }
        let mut sql = String::from("UPDATE jobs SET state = ?1");
        let next = next.as_str();
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&next as &dyn rusqlite::ToSql];
        for (column, value) in extra {
            values.push(*value);
            sql.push_str(&format!(", {column} = ?{}", values.len()));
        }
        values.push(&id);
        sql.push_str(&format!(" WHERE id = ?{}", values.len()));
        tx.execute(&sql, values.as_slice())?;
        tx.commit()?;
        Ok(true)
    }

    /// Takes the job from its engine's queue if its machine type fits beside the jobs already
    /// holding that engine's capacity and no older job is waiting there (first come, first
    /// served); else says what it waits for.
    pub fn try_claim(
        &self,
        id: i64,
        machine: &MachineType,
        host: &Capacity,
        catalogue: &[MachineType],
    ) -> Result<Claim> {
        let tx = self.write()?;
        let engine: String = tx.query_row("SELECT engine FROM jobs WHERE id = ?1", [id], |r| r.get(0))?;
        let older: Option<i64> = tx.query_row(
            "SELECT MIN(id) FROM jobs WHERE state = 'queued' AND id < ?1 AND stop_requested = 0 AND engine = ?2",
            params![id, engine],
            |r| r.get(0),
        )?;
        if let Some(older) = older {
            return Ok(Claim::Waits(format!(
                "waits its turn: job {older} was queued first"
            )));
        }
        let mut holders: Vec<(i64, &MachineType)> = Vec::new();
        let mut held_devices = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT id, spec, devices FROM jobs WHERE state IN ('preparing', 'running') AND id != ?1 AND engine = ?2 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![id, engine], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })?;
            for row in rows {
                let (holder, spec, devices) = row?;
                held_devices.extend(parse_devices(devices.as_deref()));
                let spec: JobSpec = serde_json::from_str(&spec).map_err(Error::from)?;
                // A type since removed from the config still holds what it was launched with;
                // counting it as the job's own type is the closest guess.
                if let Some(m) = catalogue
                    .iter()
                    .find(|m| m.name.eq_ignore_ascii_case(&spec.machine))
                {
                    holders.push((holder, m));
                }
            }
        }
        if let Some(why) = machine.waits_for(&holders, host) {
            return Ok(Claim::Waits(why));
        }
        let Some(devices) = pick_devices(&held_devices, host.gpus, machine.gpus) else {
            return Ok(Claim::Waits(format!(
                "waits for {} GPU device(s) that no other job holds",
                machine.gpus
            )));
        };
        let devices = devices
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let moved = tx.execute(
            "UPDATE jobs SET state = 'preparing', detail = NULL, devices = NULLIF(?2, '') WHERE id = ?1 AND state = 'queued'",
            params![id, devices],
        )?;
        tx.commit()?;
        Ok(if moved == 1 {
            Claim::Claimed
        } else {
            Claim::Waits("left the queue meanwhile".into())
        })
    }

    /// What an engine's jobs hold and wait for: the machine types of its preparing and running
    /// jobs (one entry a job), and how many of its jobs are queued.
    pub fn engine_load(&self, engine: &str) -> Result<EngineLoad> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT state, spec FROM jobs WHERE engine = ?1 AND state IN ('queued', 'preparing', 'running')",
        )?;
        let rows = stmt.query_map([engine], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut load = EngineLoad::default();
        for row in rows {
            let (state, spec) = row?;
            if state == "queued" {
                load.queued += 1;
            } else {
                let spec: JobSpec = serde_json::from_str(&spec).map_err(Error::from)?;
                load.held.push(spec.machine);
            }
        }
        Ok(load)
    }

    pub fn mark_running(&self, id: i64, handle: &str) -> Result<bool> {
        self.transition(
            id,
            JobState::Running,
            &[("handle", &handle), ("started_at", &now())],
        )
    }

    pub fn finish(
        &self,
        id: i64,
        state: JobState,
        exit_code: Option<i64>,
        detail: Option<&str>,
    ) -> Result<bool> {
        self.finish_at(id, state, exit_code, detail, None)
    }

    /// Records the end; `at` is when the runtime saw it end (default: now).
    pub fn finish_at(
        &self,
        id: i64,
        state: JobState,
        exit_code: Option<i64>,
        detail: Option<&str>,
        at: Option<&str>,
    ) -> Result<bool> {
        let finished_at = at.map_or_else(now, str::to_string);
        self.transition(
            id,
            state,
            &[
                ("exit_code", &exit_code),
                ("detail", &detail),
                ("finished_at", &finished_at),
                ("trouble", &None::<String>),
            ],
        )
    }

    /// Says what keeps the live job's supervisor from following it, or (`None`) that nothing does.
    pub fn set_trouble(&self, id: i64, trouble: Option<&str>) -> Result<()> {
        self.conn
            .execute("UPDATE jobs SET trouble = ?1 WHERE id = ?2", params![trouble, id])?;
        Ok(())
    }

    pub fn set_detail(&self, id: i64, detail: Option<&str>) -> Result<()> {
        self.conn
            .execute("UPDATE jobs SET detail = ?1 WHERE id = ?2", params![detail, id])?;
        Ok(())
    }

    /// Records the node a job's task was placed on; the wait it was in is over. An address the
    /// manager did not give is stored as none.
    pub fn set_node(&self, id: i64, node: &str, address: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET node = ?1, node_address = NULLIF(?2, ''), detail = NULL WHERE id = ?3",
            params![node, address, id],
        )?;
        Ok(())
    }

    /// Records where the job's published ports answer, when that is not this machine (a
    /// `tcp://` engine's host).
    pub fn set_address(&self, id: i64, address: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET node_address = ?1 WHERE id = ?2",
            params![address, id],
        )?;
        Ok(())
    }

    pub fn set_supervisor(&self, id: i64, pid: u32) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET supervisor_pid = ?1 WHERE id = ?2",
            params![pid, id],
        )?;
        Ok(())
    }

    pub fn request_stop(&self, id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET stop_requested = 1 WHERE id = ?1 AND stop_requested = 0",
            [id],
        )?;
        Ok(())
    }

    /// Asks for the job's stop as a prune, unless someone asked for a plain stop first.
    pub fn request_prune(&self, id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET stop_requested = ?1 WHERE id = ?2 AND stop_requested = 0",
            params![STOP_TO_PRUNE, id],
        )?;
        Ok(())
    }
}

impl Store {
    /// Deletes finished jobs and their metrics in one transaction; a job that is still live
    /// refuses the whole deletion. A sweep's point whose job goes keeps no job.
    pub fn delete_finished_jobs(&self, ids: &[i64]) -> Result<()> {
        let tx = self.write()?;
        removable_jobs(&tx, ids)?;
        for id in ids {
            tx.execute("DELETE FROM metrics WHERE job_id = ?1", [id])?;
            tx.execute("UPDATE trials SET job_id = NULL WHERE job_id = ?1", [id])?;
            tx.execute("DELETE FROM jobs WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Finished jobs that ended before `cutoff` (RFC 3339) and still have their files, oldest
    /// first; with `keep_failed`, not those that failed, ran out of memory or were lost.
    pub fn finished_before(&self, cutoff: &str, keep_failed: bool) -> Result<Vec<i64>> {
        let kept: &[JobState] = if keep_failed {
            &[JobState::Failed, JobState::OomKilled, JobState::Lost]
        } else {
            &[]
        };
        let mut stmt = self.conn.prepare(
            "SELECT id, state FROM jobs WHERE cleaned_at IS NULL AND finished_at IS NOT NULL AND finished_at < ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([cutoff], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut ids = Vec::new();
        for row in rows {
            let (id, state) = row?;
            if state
                .parse::<JobState>()
                .is_ok_and(|s| s.is_final() && !kept.contains(&s))
            {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// The jobs whose files gc has not removed, with the snapshot each runs.
    pub fn snapshot_users(&self) -> Result<Vec<(i64, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, snapshot FROM jobs WHERE snapshot IS NOT NULL AND cleaned_at IS NULL")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records that a finished job's files were removed; a job that is not finished is refused.
    pub fn mark_cleaned(&self, id: i64) -> Result<()> {
        let tx = self.write()?;
        let state: String = tx.query_row("SELECT state FROM jobs WHERE id = ?1", [id], |r| r.get(0))?;
        if !state.parse::<JobState>().is_ok_and(JobState::is_final) {
            return Err(Error::Invalid(format!(
                "job {id} is {state}: only a finished job is cleaned"
            )));
        }
        tx.execute(
            "UPDATE jobs SET cleaned_at = ?1 WHERE id = ?2",
            params![now(), id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Refuses when one of the jobs does not exist or has not ended. Their files go first;
    /// [`Store::delete_finished_jobs`] then.
    pub fn removable_jobs(&self, ids: &[i64]) -> Result<()> {
        removable_jobs(&self.conn, ids)
    }

    /// The jobs of a project that may be deleted: refused while one of its jobs is live or a
    /// sweep of it has not finished. Their files go first; [`Store::delete_project`] then.
    pub fn removable_project(&self, name: &str) -> Result<Vec<i64>> {
        removable_project(&self.conn, name, self.project_id(name)?)
    }

    /// Deletes a project with its jobs, their metrics, and its sweeps, in one transaction; a
    /// live job or an unfinished sweep refuses it. Returns the deleted jobs' ids.
    pub fn delete_project(&self, name: &str) -> Result<Vec<i64>> {
        let project = self.project_id(name)?;
        let tx = self.write()?;
        let jobs = removable_project(&tx, name, project)?;
        tx.execute(
            "DELETE FROM metrics WHERE job_id IN (SELECT id FROM jobs WHERE project_id = ?1)",
            [project],
        )?;
        tx.execute(
            "DELETE FROM trials WHERE sweep_id IN (SELECT id FROM sweeps WHERE project_id = ?1)",
            [project],
        )?;
        tx.execute("DELETE FROM jobs WHERE project_id = ?1", [project])?;
        tx.execute("DELETE FROM sweeps WHERE project_id = ?1", [project])?;
        tx.execute("DELETE FROM projects WHERE id = ?1", [project])?;
        tx.commit()?;
        Ok(jobs)
    }
}

/// See [`Store::removable_jobs`].
fn removable_jobs(conn: &Connection, ids: &[i64]) -> Result<()> {
    for id in ids {
        let state: String = conn
            .query_row("SELECT state FROM jobs WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("no job {id}: `mlbench jobs` lists them")))?;
        if !state.parse::<JobState>().is_ok_and(JobState::is_final) {
            return Err(Error::Invalid(format!(
                "job {id} is {state}: stop it first with `mlbench stop {id}`"
            )));
        }
    }
    Ok(())
}

/// See [`Store::removable_project`].
fn removable_project(conn: &Connection, name: &str, project: i64) -> Result<Vec<i64>> {
    let jobs: Vec<(i64, String)> = {
        let mut stmt = conn.prepare("SELECT id, state FROM jobs WHERE project_id = ?1 ORDER BY id")?;
        stmt.query_map([project], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    if let Some((id, state)) = jobs
        .iter()
        .find(|(_, state)| !state.parse::<JobState>().is_ok_and(JobState::is_final))
    {
        return Err(Error::Invalid(format!(
            "job {id} of {name} is {state}: stop it first with `mlbench stop {id}`"
        )));
    }
    let unfinished: Option<i64> = conn
        .query_row(
            "SELECT id FROM sweeps WHERE project_id = ?1 AND finished_at IS NULL LIMIT 1",
            [project],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(sweep) = unfinished {
        return Err(Error::Invalid(format!(
            "sweep {sweep} of {name} has not finished: stop it first with `mlbench sweep stop {sweep}`"
        )));
    }
    Ok(jobs.into_iter().map(|(id, _)| id).collect())
}

impl Store {
    /// Adds metric points; a point seen again (a follow resumed over it) replaces itself.
    pub fn insert_metrics(&self, job: i64, points: &[(String, i64, f64)]) -> Result<()> {
        let tx = self.write()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO metrics (job_id, key, step, value) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (key, step, value) in points {
                stmt.execute(params![job, key, step, value])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The last step of each of the job's series, so numbering goes on after a restart.
    pub fn metric_steps(&self, job: i64) -> Result<std::collections::HashMap<String, i64>> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, MAX(step) FROM metrics WHERE job_id = ?1 GROUP BY key")?;
        let rows = stmt.query_map([job], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn metric_summaries(&self, job: i64) -> Result<Vec<MetricSummary>> {
        Ok(self
            .metric_summaries_from(job, job)?
            .remove(&job)
            .unwrap_or_default())
    }

    /// The metric summaries of every job with an id in `first..=last`, with their shapes.
    pub fn metric_summaries_from(
        &self,
        first: i64,
        last: i64,
    ) -> Result<std::collections::HashMap<i64, Vec<MetricSummary>>> {
        let mut by_job = self.metric_stats_from(first, last)?;
        let mut shape = self.conn.prepare_cached(
            "SELECT job_id, key, AVG(value) FROM (
                 SELECT job_id, key, value,
                        NTILE(?3) OVER (PARTITION BY job_id, key ORDER BY step) AS stretch
                 FROM metrics WHERE job_id BETWEEN ?1 AND ?2)
             GROUP BY job_id, key, stretch ORDER BY job_id, key, stretch",
        )?;
        let points = shape.query_map(params![first, last, SHAPE_POINTS as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, f64>(2)?))
        })?;
        // Where each (job, key) summary is, looked up per point: a job with many names must
        // not make this quadratic.
        let at: std::collections::HashMap<(i64, String), usize> = by_job
            .iter()
            .flat_map(|(job, summaries)| {
                summaries
                    .iter()
                    .enumerate()
                    .map(|(i, s)| ((*job, s.key.clone()), i))
            })
            .collect();
        for point in points {
            let (job, key, value) = point?;
            if let (Some(&i), Some(summaries)) = (at.get(&(job, key)), by_job.get_mut(&job)) {
                summaries[i].shape.push(value);
            }
        }
        Ok(by_job)
    }

    /// Last, min, max and count of each series of every job with an id in `first..=last`, in
    /// one query; no shapes (a comparison of 10,000 trials needs none).
    pub fn metric_stats_from(
        &self,
        first: i64,
        last: i64,
    ) -> Result<std::collections::HashMap<i64, Vec<MetricSummary>>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT job_id, key,
                    (SELECT value FROM metrics l WHERE l.job_id = m.job_id AND l.key = m.key ORDER BY step DESC LIMIT 1),
                    MIN(value), MAX(value), COUNT(*)
             FROM metrics m WHERE job_id BETWEEN ?1 AND ?2 GROUP BY job_id, key ORDER BY job_id, key",
        )?;
        let rows = stmt.query_map([first, last], |r| {
            let summary = MetricSummary {
                key: r.get(1)?,
                last: r.get(2)?,
                min: r.get(3)?,
                max: r.get(4)?,
                count: r.get(5)?,
                shape: Vec::new(),
            };
            Ok((r.get::<_, i64>(0)?, summary))
        })?;
        let mut by_job: std::collections::HashMap<i64, Vec<MetricSummary>> = std::collections::HashMap::new();
        for row in rows {
            let (job, summary) = row?;
            by_job.entry(job).or_default().push(summary);
        }
        Ok(by_job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlbench_domain::machine::builtin_catalogue;
    use mlbench_domain::{JobKind, Source};

    fn spec(machine: &str) -> JobSpec {
        JobSpec {
            kind: JobKind::Training,
            deployment: None,
            storage_read_only: false,
            project: "p".into(),
            machine: machine.into(),
            image: "img".into(),
            build_dockerfile: None,
            source: Source::Folder { path: ".".into() },
            command: vec!["true".into()],
            env: vec![],
            ports: vec![],
            placement: Vec::new(),
            engine: mlbench_domain::LOCAL_ENGINE.into(),
        }
    }

    /// A home whose store stops at schema `version`, holding in every table of that version
    /// what a user of it would have: a project, a finished job with metrics, and from version 3
    /// a sweep with a trial.
    fn home_at(version: usize) -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().to_path_buf()).unwrap();
        let conn = Connection::open(home.db_path()).unwrap();
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", version).unwrap();
        let spec_json = serde_json::to_string(&spec("G1")).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO projects (id, name, created_at) VALUES (1, 'p', '2026-11-23T10:00:00Z');
             INSERT INTO jobs (id, project_id, spec, runtime, state, commit_sha, created_at, started_at, finished_at, exit_code)
                 VALUES (7, 1, '{spec_json}', 'local', 'succeeded', 'abc', '2026-11-23T10:00:01Z', '2026-11-23T10:00:02Z', '2026-11-23T10:00:09Z', 0);"
        ))
        .unwrap();
        if version >= 2 {
            conn.execute_batch(
                "INSERT INTO metrics VALUES (7, 'MSE', 0, 12.5), (7, 'MSE', 1, 10.25), (7, 'R2', 0, 0.9);",
            )
            .unwrap();
        }
        if version >= 3 {
            let sweep = mlbench_domain::sweep::SweepSpec {
                base: spec("G1"),
                space: mlbench_domain::sweep::Space::Grid {
                    axes: vec!["d=1,2".parse().unwrap()],
                },
                metric: "MSE".into(),
                goal: mlbench_domain::sweep::Goal::Minimize,
                parallel: Some(1),
                early_stop: None,
            };
            let sweep = serde_json::to_string(&sweep).unwrap();
            conn.execute(
                "INSERT INTO sweeps (id, project_id, spec, runtime, created_at, finished_at) VALUES (3, 1, ?1, 'local', '2026-11-23T11:00:00Z', '2026-11-23T11:00:05Z')",
                [sweep],
            )
            .unwrap();
            conn.execute_batch(
                "UPDATE jobs SET sweep_id = 3, params = '{\"d\":\"1\"}' WHERE id = 7;
                 INSERT INTO trials VALUES (3, 0, '{\"d\":\"1\"}', 7);",
            )
            .unwrap();
        }
        (dir, home)
    }

    /// Opens a home made at `version` with this mlbench: the schema reaches the newest
    /// version and every row made before is still there, read through the store.
    fn migrates_from(version: usize) {
        let (_dir, home) = home_at(version);
        let store = Store::open(&home).unwrap();
        let at: usize = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(at, SCHEMA_VERSION);
        let jobs = store.jobs(Some("p")).unwrap();
        assert_eq!(jobs.len(), 1);
        let job = &jobs[0];
        assert_eq!(
            (job.id, job.state, job.exit_code),
            (7, JobState::Succeeded, Some(0))
        );
        assert_eq!(job.commit.as_deref(), Some("abc"));
        assert_eq!(job.finished_at.as_deref(), Some("2026-11-23T10:00:09Z"));
        assert_eq!(job.spec.command, vec!["true".to_string()]);
        assert_eq!(job.node, None);
        if version >= 2 {
            let metrics = store.metric_summaries(7).unwrap();
            let mse = metrics.iter().find(|m| m.key == "MSE").unwrap();
            assert_eq!((mse.last, mse.count), (10.25, 2));
        }
        if version >= 3 {
            assert_eq!(job.sweep, Some(3));
            assert_eq!(store.sweeps(Some("p")).unwrap().len(), 1);
        }
        // The new version's columns work on old rows.
        store.insert_metrics(7, &[("MSE".into(), 2, 9.0)]).unwrap();
    }

    #[test]
    fn migrates_from_version_1_projects_and_jobs() {
        migrates_from(1);
    }

    #[test]
    fn migrates_from_version_2_metrics_0_1_0() {
        migrates_from(2);
    }

    #[test]
    fn migrates_from_version_3_sweeps() {
        migrates_from(3);
    }

    #[test]
    fn migrates_from_version_4_nodes() {
        migrates_from(4);
    }

    #[test]
    fn migrates_from_version_5_snapshots() {
        migrates_from(5);
    }

    #[test]
    fn migrates_from_version_6_trouble() {
        migrates_from(6);
    }

    #[test]
    fn a_job_of_an_older_store_ran_on_the_local_engine() {
        let (_dir, home) = home_at(6);
        let store = Store::open(&home).unwrap();
        assert_eq!(store.job(7).unwrap().engine, mlbench_domain::LOCAL_ENGINE);
        assert_eq!(store.engine_load("local").unwrap(), crate::EngineLoad::default());
    }

    #[test]
    fn trouble_is_said_while_a_job_lives_and_cleared_by_its_end() {
        let (_dir, store) = store();
        store.create_project("p").unwrap();
        let job = store.insert_job(&spec("p"), RuntimeKind::Docker, None).unwrap();
        store.set_trouble(job, Some("disk full since 14:02")).unwrap();
        assert_eq!(
            store.job(job).unwrap().state_shown(),
            "queued (disk full since 14:02)"
        );
        store.finish(job, JobState::Stopped, None, None).unwrap();
        let ended = store.job(job).unwrap();
        assert_eq!(ended.trouble, None);
        assert_eq!(ended.state_shown(), "stopped");
    }

    #[test]
    fn an_empty_file_becomes_the_newest_schema() {
        let (_dir, store) = store();
        let at: usize = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(at, SCHEMA_VERSION);
    }

    #[test]
    fn a_store_from_a_newer_mlbench_is_refused_and_left_as_it_was() {
        let (_dir, home) = home_at(SCHEMA_VERSION);
        {
            let conn = Connection::open(home.db_path()).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        let before = std::fs::read(home.db_path()).unwrap();
        let err = Store::open(&home).err().unwrap().to_string();
        assert!(err.contains("was written by a newer mlbench"), "{err}");
        assert!(err.contains("upgrade mlbench"), "{err}");
        assert_eq!(std::fs::read(home.db_path()).unwrap(), before, "the file changed");
        assert!(!home.db_path().with_extension("db-wal").exists());
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Home::at(dir.path().to_path_buf()).unwrap()).unwrap();
        (dir, store)
    }

    #[test]
    fn jobs_need_a_project_and_follow_the_state_machine() {
        let (_dir, store) = store();
        let err = store
            .insert_job(&spec("G1"), RuntimeKind::Docker, None)
            .unwrap_err();
        assert!(err.to_string().contains("project p does not exist"));
        store.create_project("p").unwrap();
        assert!(
            store
                .create_project("p")
                .unwrap_err()
                .to_string()
                .contains("already exists")
        );
        let id = store
            .insert_job(&spec("G1"), RuntimeKind::Docker, Some("abc"))
            .unwrap();
        assert!(!store.mark_running(id, "c1").unwrap(), "queued jumped to running");
        let cat = builtin_catalogue();
        let host = Capacity {
            cpus: 2.0,
            memory_bytes: 8 << 30,
            gpus: 0,
        };
        assert!(store.try_claim(id, &cat[0], &host, &cat).unwrap().is_claimed());
        assert!(store.mark_running(id, "c1").unwrap());
        assert!(store.finish(id, JobState::Failed, Some(3), None).unwrap());
        assert!(!store.finish(id, JobState::Succeeded, Some(0), None).unwrap());
        let job = store.job(id).unwrap();
        assert_eq!(
            (job.state, job.exit_code, job.commit.as_deref()),
            (JobState::Failed, Some(3), Some("abc"))
        );
        assert_eq!(store.projects().unwrap()[0].jobs, 1);
        let points = [
            ("MSE".to_string(), 0, 3.0),
            ("MSE".to_string(), 1, 2.0),
            ("MSE".to_string(), 1, 2.0),
        ];
        store.insert_metrics(id, &points).unwrap();
        let summary = &store.metric_summaries(id).unwrap()[0];
        assert_eq!(
            (summary.last, summary.min, summary.max, summary.count),
            (2.0, 2.0, 3.0, 2)
        );
        assert_eq!(summary.shape, [3.0, 2.0]);
        // A long series is summed up whole, not cut to its end.
        let long: Vec<(String, i64, f64)> = (0..320)
            .map(|i| ("loss".to_string(), i, 320.0 - i as f64))
            .collect();
        store.insert_metrics(id, &long).unwrap();
        let loss = store
            .metric_summaries(id)
            .unwrap()
            .into_iter()
            .find(|m| m.key == "loss")
            .unwrap();
        assert_eq!(loss.shape.len(), SHAPE_POINTS);
        assert_eq!((loss.shape[0], loss.shape[31]), (315.5, 5.5));
        assert_eq!(store.metric_steps(id).unwrap()["MSE"], 1);
    }

    #[test]
    fn gpu_jobs_leave_the_queue_with_devices_no_other_job_holds() {
        let (_dir, store) = store();
        store.create_project("p").unwrap();
        let cat = builtin_catalogue();
        let gpu = cat.iter().find(|m| m.gpus == 1).unwrap().clone();
        let host = Capacity {
            cpus: gpu.cpus * 3.0,
            memory_bytes: gpu.memory_bytes * 3,
            gpus: 2,
        };
        let jobs: Vec<i64> = (0..3)
            .map(|_| {
                store
                    .insert_job(&spec(&gpu.name), RuntimeKind::Docker, None)
                    .unwrap()
            })
            .collect();
        assert!(store.try_claim(jobs[0], &gpu, &host, &cat).unwrap().is_claimed());
        assert!(store.try_claim(jobs[1], &gpu, &host, &cat).unwrap().is_claimed());
        let devices = |id| store.job(id).unwrap().devices;
        assert_eq!((devices(jobs[0]), devices(jobs[1])), (vec![0], vec![1]));
        // Both GPUs are held: the third waits, and takes the one its predecessor gives back.
        assert!(!store.try_claim(jobs[2], &gpu, &host, &cat).unwrap().is_claimed());
        store.finish(jobs[0], JobState::Stopped, None, None).unwrap();
        assert!(store.try_claim(jobs[2], &gpu, &host, &cat).unwrap().is_claimed());
        assert_eq!(devices(jobs[2]), vec![0]);
    }

    #[test]
    fn a_first_look_reads_the_newest_jobs_and_every_live_one() {
        let (_dir, store) = store();
        store.create_project("p").unwrap();
        let ids: Vec<i64> = (0..10)
            .map(|_| store.insert_job(&spec("G1"), RuntimeKind::Docker, None).unwrap())
            .collect();
        for id in &ids[1..] {
            store.finish(*id, JobState::Stopped, None, None).unwrap();
        }
        let seen: Vec<i64> = store.recent_jobs(3).unwrap().iter().map(|j| j.id).collect();
        // The first job still waits in the queue: it is live, however old.
        assert_eq!(seen, [ids[0], ids[7], ids[8], ids[9]]);
        assert_eq!(store.projects().unwrap()[0].jobs, 10);
    }

    #[test]
    fn the_queue_waits_for_capacity_in_order() {
        let (_dir, store) = store();
        store.create_project("p").unwrap();
        let cat = builtin_catalogue();
        let c3 = cat.iter().find(|m| m.name == "C3").unwrap();
        let host = Capacity {
            cpus: 2.0,
            memory_bytes: 8 << 30,
            gpus: 0,
        };
        let a = store.insert_job(&spec("C3"), RuntimeKind::Docker, None).unwrap();
        let b = store.insert_job(&spec("G1"), RuntimeKind::Docker, None).unwrap();
        let c = store.insert_job(&spec("G1"), RuntimeKind::Docker, None).unwrap();
        assert_eq!(
            store.try_claim(b, &cat[0], &host, &cat).unwrap(),
            Claim::Waits(format!("waits its turn: job {a} was queued first")),
            "b jumped the queue"
        );
        assert!(store.try_claim(a, c3, &host, &cat).unwrap().is_claimed());
        assert_eq!(
            store.try_claim(b, &cat[0], &host, &cat).unwrap(),
            Claim::Waits(format!("waits for 1 vCPU: 0 free, job {a} holds 2")),
            "b fit beside a full host"
        );
        store.finish(a, JobState::Stopped, None, None).unwrap();
        assert!(store.try_claim(b, &cat[0], &host, &cat).unwrap().is_claimed());
        assert!(store.try_claim(c, &cat[0], &host, &cat).unwrap().is_claimed());
    }
}
