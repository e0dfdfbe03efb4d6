//! A job's output on its way in: every line to the log file, and the metrics found in its
//! stdout and stderr to the store, in one batch per flush.

use std::io;

use mlbench_domain::output::{OutputSink, Placement, Stream};
use mlbench_ml::metrics::{self, Steps};
use mlbench_store::Store;
use mlbench_store::logfile::LogWriter;

pub(crate) struct JobOutput<'a> {
    log: LogWriter,
    store: &'a Store,
    job: i64,
    steps: Steps,
    pending: Vec<(String, i64, f64)>,
    /// Whether the log already says that metric names past the cap are not kept.
    cap_said: bool,
}

impl<'a> JobOutput<'a> {
    pub(crate) fn new(log: LogWriter, store: &'a Store, job: i64) -> crate::Result<JobOutput<'a>> {
        let steps = Steps::resume(store.metric_steps(job)?);
        Ok(JobOutput {
            log,
            store,
            job,
            steps,
            pending: Vec::new(),
            cap_said: false,
        })
    }
}

impl OutputSink for JobOutput<'_> {
    fn line(&mut self, ts: &[u8], stream: Stream, text: &[u8]) -> io::Result<()> {
        self.log.line(ts, stream, text)?;
        if stream != Stream::Note {
            for metric in metrics::parse_line(text) {
                match self.steps.assign(&metric) {
                    Some(step) => self.pending.push((metric.key, step, metric.value)),
                    None if !self.cap_said => {
                        self.cap_said = true;
                        self.log.note(&format!(
                            "metric {:?} and any other new name past {} are not kept as metrics (the log keeps their lines)",
                            metric.key,
                            metrics::MAX_KEYS_PER_JOB
                        ))?;
                    }
                    None => {}
                }
            }
        }
        Ok(())
    }

    /// A piece of an over-long line: kept in the log, never read for metrics.
    fn cut(&mut self, ts: &[u8], stream: Stream, text: &[u8]) -> io::Result<()> {
        self.log.cut(ts, stream, text)
    }

    fn max_line(&self) -> usize {
        self.log.max_line()
    }

    /// The log first: a metric is stored only once its line is on disk.
    fn flush(&mut self) -> io::Result<()> {
        self.log.flush()?;
        if !self.pending.is_empty() {
            self.store
                .insert_metrics(self.job, &self.pending)
                .map_err(io::Error::other)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Said in the log where it happened, and in the job's row (its detail, or its node).
    fn placement(&mut self, news: Placement<'_>) -> io::Result<()> {
        match news {
            Placement::Waiting(why) => {
                self.log.note(&format!("waiting: {why}"))?;
                self.store
                    .set_detail(self.job, Some(why))
                    .map_err(io::Error::other)
            }
            Placement::OnNode { name, address } => {
                self.log.note(&format!("placed on node {name} ({address})"))?;
                self.store
                    .set_node(self.job, name, address)
                    .map_err(io::Error::other)
            }
        }
    }
}
