//! The built-in trainer from the command line, and in a job on the real Docker Engine.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{BUSYBOX, Sandbox, busybox_image, docker_available};

fn sal_csv() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/sal.csv")
        .display()
        .to_string()
}

#[test]
fn train_prints_the_tutorial_lines_and_writes_the_model() {
    let s = Sandbox::new("local");
    let out = s.dir.path().join("model");
    let printed = s.ok(&["train", "-i", &sal_csv(), "-o", out.to_str().unwrap()]);
    let keys: Vec<&str> = printed.lines().map(|l| l.split(" : ").next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "Intercept",
            "Slope",
            "MSE",
            "R2",
            &format!("Model written to {}/model.json (version 1)", out.display())
        ]
    );
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("model.json")).unwrap()).unwrap();
    assert_eq!(model["kind"], "linear");
    assert_eq!(model["features"], serde_json::json!(["x"]));
    assert_eq!(model["target"], "y");
    assert_eq!(model["format_version"], 1);
}

#[test]
fn bad_data_is_one_line_and_keeps_the_old_model() {
    let s = Sandbox::new("local");
    let out = s.dir.path().join("model");
    s.ok(&["train", "-i", &sal_csv(), "-o", out.to_str().unwrap()]);
    let before = std::fs::read(out.join("model.json")).unwrap();
    let write = |name: &str, text: &str| {
        let path = s.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let cases = [
        (
            s.dir.path().join("missing.csv").display().to_string(),
            "no such file",
        ),
        (write("empty.csv", ""), "the file is empty"),
        (write("header.csv", "x,y\n"), "no data rows"),
        (
            write("text.csv", "x,y\n1,2\n2,abc\n"),
            "text.csv:3: column \"y\": \"abc\" is not a number",
        ),
        (
            write("nan.csv", "x,y\n1,2\nnan,3\n"),
            "nan.csv:3: column \"x\": \"nan\" is not a finite number",
        ),
        (
            write("const.csv", "x,y\n1,2\n1,3\n1,4\n1,5\n"),
            "feature \"x\" is constant",
        ),
        (
            write("one.csv", "x,y\n1,2\n"),
            "only 1 training rows for 2 parameters",
        ),
        (
            write("open-quote.csv", "x,y\n1,2\n2,4\n3,\"6\n"),
            "open-quote.csv:4: a quoted field is never closed",
        ),
        (
            write("no-name.csv", ",y\n1,2\n2,4\n3,7\n"),
            "no-name.csv:1: column 1 has no name in the header",
        ),
        (
            write("huge.csv", "x,y\n1e308,2\n-1e308,4\n5,7\n"),
            "the values are too large to fit",
        ),
        (
            write(
                "long-value.csv",
                &format!("x,y\n1,2\n2,{}\n", "9x".repeat(500_000)),
            ),
            "long-value.csv:3: column \"y\"",
        ),
    ];
    for (input, expected) in cases {
        let out_arg = out.to_str().unwrap();
        let result = s.run(&["train", "--test-size", "0", "-i", &input, "-o", out_arg]);
        let err = String::from_utf8_lossy(&result.stderr);
        assert!(!result.status.success(), "{input} trained");
        assert_eq!(err.lines().count(), 1, "{input}: {err}");
        assert!(
            err.chars().count() < 500,
            "{input}: an error of {} characters",
            err.len()
        );
        assert!(err.contains(expected), "{input}: {err}");
        assert_eq!(
            std::fs::read(out.join("model.json")).unwrap(),
            before,
            "{input} touched the model"
        );
    }
    let unknown = s.run(&[
        "train",
        "-i",
        &sal_csv(),
        "-o",
        out.to_str().unwrap(),
        "--y",
        "salary",
    ]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("there is no column \"salary\""));
}

#[test]
fn the_demo_job_trains_in_the_runtime_image_records_metrics_and_draws_the_fit() {
    if !docker_available("the_demo_job_trains_in_the_runtime_image_records_metrics_and_draws_the_fit") {
        return;
    }
    let s = Sandbox::new("docker");
    let printed = s.ok(&["demo"]);
    assert!(printed.contains("MSE : "), "{printed}");
    let job = s.job(1);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(s.home.join("projects/salary/storage/salary/model.json").exists());
    let metrics: serde_json::Value = serde_json::from_str(&s.ok(&["metrics", "1", "--json"])).unwrap();
    let keys: Vec<&str> = metrics
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["Intercept", "MSE", "R2", "Slope"]);
    let png = s.dir.path().join("fit.png");
    s.ok(&["plot", "1", "-o", png.to_str().unwrap()]);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        mlbench_plot::WIDTH
    );
    assert_eq!(
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
        mlbench_plot::HEIGHT
    );
}

#[test]
fn a_users_own_script_gets_metrics_and_a_chart_from_them() {
    if !docker_available("a_users_own_script_gets_metrics_and_a_chart_from_them") {
        return;
    }
    let s = Sandbox::new("docker");
    busybox_image(&s);
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[]);
    let script =
        "echo 'Intercept : 103100.5'; echo 'Slope : 1850'; for l in 0.9 0.5 0.25; do echo \"loss=$l\"; done";
    s.ok(&[
        "run",
        "--project",
        "p",
        "--image",
        BUSYBOX,
        "--repo",
        repo.to_str().unwrap(),
        "-f",
        "--",
        "sh",
        "-c",
        script,
    ]);
    let metrics: serde_json::Value = serde_json::from_str(&s.ok(&["metrics", "1", "--json"])).unwrap();
    let loss = metrics
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "loss")
        .unwrap()
        .clone();
    assert_eq!(
        (
            loss["last"].as_f64(),
            loss["min"].as_f64(),
            loss["max"].as_f64(),
            loss["count"].as_i64()
        ),
        (Some(0.25), Some(0.25), Some(0.9), Some(3))
    );
    let png = s.dir.path().join("own.png");
    let no_data = s.run(&["plot", "1", "-o", png.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&no_data.stderr).contains("name the data set with --data"));
    s.ok(&["plot", "1", "-o", png.to_str().unwrap(), "--data", &sal_csv()]);
    assert!(png.exists());

    // A command that names its data set: plot finds it in the job's workspace and says so.
    std::fs::copy(sal_csv(), repo.join("sal.csv")).unwrap();
    s.ok(&[
        "run",
        "--project",
        "p",
        "--image",
        BUSYBOX,
        "--repo",
        repo.to_str().unwrap(),
        "-f",
        "--",
        "sh",
        "-c",
        "echo 'Intercept : 103100.5'; echo 'Slope : 1850'",
        "fit",
        "-i",
        "./sal.csv",
    ]);
    let inferred = s.run(&["plot", "2", "-o", png.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&inferred.stderr);
    assert!(inferred.status.success(), "{said}");
    assert!(said.contains("sal.csv (named by the job's command)"), "{said}");
    // A relative --data that is not here is the job's, in its workspace: the job did not
    // write it, so it is in the snapshot the job's /workspace was layered over.
    let relative = s.run(&["plot", "2", "-o", png.to_str().unwrap(), "--data", "sal.csv"]);
    let said = String::from_utf8_lossy(&relative.stderr);
    assert!(relative.status.success(), "{said}");
    let snapshot = s.job(2)["snapshot"].as_str().unwrap().to_string();
    assert!(
        said.contains(&format!("snapshots/{snapshot}/sal.csv (named by --data)")),
        "{said}"
    );
    // A pickle is named as one, not as bad UTF-8.
    let pickle = s.dir.path().join("model.pkl");
    std::fs::write(&pickle, [0x80, 0x04, 0x95, 0xff, 0xfe, 0x00]).unwrap();
    let refused = s.run(&[
        "plot",
        "2",
        "-o",
        png.to_str().unwrap(),
        "--model",
        pickle.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        said.contains("a Python pickle?") && !said.contains("UTF-8"),
        "{said}"
    );
}
