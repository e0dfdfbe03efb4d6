//! Experiments: what a user learns from jobs. `sweeps` runs one command over many parameter
//! points (the detached driver, the median rule, resume and stop); `compare` lines up a sweep's
//! trials; `curves` draws metric series; `fit` loads a job's model beside its data for the chart;
//! `models` lists the models in the projects' /storage and their kept versions; `demo`
//! prepares the built-in demos (the salary job, the iris sweep).

pub mod compare;
pub mod curves;
pub mod demo;
pub mod fit;
pub mod models;
pub mod sweeps;
