//! `scripts/load`, as an operator runs it, against the binary: 50 clients
//! upload at once, and every upload ends `done`.

use crate::common;

use common::{Daemon, jpeg};

#[test]
fn fifty_concurrent_uploads_all_end_done() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, jpeg(800, 600)).unwrap();
    let daemon = Daemon::start(dir.path(), &[]);
    let output = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/load"))
        .args(["50", "--base", &daemon.url(""), "--pid", &daemon.child.id().to_string()])
        .arg(&photo)
        .output()
        .expect("run scripts/load (python3)");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}\n{}\n{}", String::from_utf8_lossy(&output.stderr), daemon.log_tail());
    assert!(report.contains("50 uploads accepted"), "{report}");
    assert!(report.contains("done 50, failed 0, upload errors 0"), "{report}");
    println!("{report}");
}
