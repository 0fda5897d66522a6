//! The main job: the one-command demo, run as users run it.

use std::process::Command;

use crate::support::bin;

#[test]
fn the_demo_runs_the_whole_journey() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("chain");
    bin("coordinator"); // builds the tools if needed
    let out = Command::new(bin("demo"))
        // The default deadline (30 s): the miners train in debug builds while
        // the other tests share the cores, and must submit before it passes.
        .args(["--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "the operator creates a chain",
        "the sponsor opens a bounty",
        "two miners train different models",
        "submissions end, two evaluators are drawn for each model",
        "scheduler closes the bounty and pays the winner",
        "fine-tunes of that winner",
        "a business buys a commercial licence",
        "balances",
        "an auditor replays the whole log",
    ] {
        assert!(text.contains(step), "missing step {step:?}:\n{text}");
    }
    // Two models scored by two evaluators each, the winner paid.
    assert!(text.contains("paid         100000 to"), "{text}");
    // Royalties: the new winner's miner, the sponsor, and upstream the first winner's miner.
    assert_eq!(text.matches("    royalty ").count(), 3, "{text}");
    assert!(text.contains("parent     "), "{text}");
    assert!(text.contains("replay cleanly"), "{text}");
    assert!(text.contains("web pages: http://127.0.0.1:"), "{text}");
}

/// Processes whose command line names `dir`.
fn processes_naming(dir: &std::path::Path) -> Vec<String> {
    let needle = dir.to_str().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let cmd = std::fs::read(e.ok()?.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(needle).then_some(cmd)
        })
        .collect()
}

#[test]
fn stopping_the_demo_stops_its_coordinator_and_evaluators() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("chain");
    bin("coordinator");
    let mut demo = Command::new(bin("demo"))
        .args(["--data-dir", data.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(demo.stdout.take().unwrap());
    // Once the sponsor opens a bounty, the coordinator and both evaluators run.
    for line in stdout.lines() {
        if line.unwrap().contains("the sponsor opens a bounty") {
            break;
        }
    }
    let running = processes_naming(&data);
    assert!(
        running.len() >= 3,
        "coordinator and evaluators: {running:?}"
    );
    Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(demo.wait().unwrap().code(), Some(130));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !processes_naming(&data).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(processes_naming(&data), Vec::<String>::new());
}
