//! The deployment examples in docs/deploy/ against what variegate does: the
//! shard count Kubernetes needs matches the Job, retries stop on the exit
//! codes that mean retrying cannot help, and every flag they pass exists.

use std::path::PathBuf;
use std::process::Command;

fn deploy(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy").join(name);
    std::fs::read_to_string(path).unwrap()
}

fn batch_help() -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_variegate")).args(["batch", "--help"]).output().unwrap();
    String::from_utf8(output.stdout).unwrap()
}

/// Every `--flag` in `args` is one `variegate batch` takes.
fn flags_exist(args: &[String]) {
    let help = batch_help();
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "{flag} is no batch option"
        );
    }
}

#[test]
fn kubernetes_indexed_job() {
    let yaml = deploy("kubernetes-indexed-job.yaml");
    let value = |key: &str| -> String {
        let line = yaml.lines().find(|l| l.trim_start().starts_with(&format!("{key}:"))).unwrap();
        line.split_once(':').unwrap().1.trim().to_string()
    };
    assert_eq!(value("completionMode"), "Indexed");
    let args: Vec<String> = yaml
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("args:"))
        .skip(1)
        .take_while(|l| l.trim_start().starts_with("- "))
        .map(|l| l.trim_start().trim_start_matches("- ").trim_matches('"').to_string())
        .collect();
    assert_eq!(args[0], "batch");
    let shards = args.iter().position(|a| a == "--shards").map(|i| args[i + 1].clone());
    assert_eq!(shards, Some(value("completions")), "--shards must be the Job's completions");
    assert!(args.contains(&"--resume".to_string()));
    flags_exist(&args);
    assert!(yaml.contains("values: [1, 2]"), "fatal exit codes fail the index at once");
}

#[test]
fn aws_batch_job_definition() {
    let definition: serde_json::Value =
        serde_json::from_str(&deploy("aws-batch-job-definition.json")).unwrap();
    let args: Vec<String> = definition["containerProperties"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(args[0], "batch");
    assert!(!args.contains(&"--shard".to_string()), "AWS Batch sets the shard through its variables");
    assert!(args.contains(&"--resume".to_string()));
    flags_exist(&args);
    let on_exit = definition["retryStrategy"]["evaluateOnExit"].as_array().unwrap();
    for code in ["1", "2"] {
        assert!(
            on_exit.iter().any(|r| r["onExitCode"] == code && r["action"] == "EXIT"),
            "{code} stops retrying"
        );
    }
    assert_eq!(on_exit.last().unwrap()["action"], "RETRY");
}
