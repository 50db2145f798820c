//! The CloudFormation stack, deploy/cloudformation/imaged.yaml, through
//! scripts/check-stack: cfn-lint finds nothing in it but finds a broken
//! reference; deployed into moto, it makes the bucket, the queue with its
//! dead-letter queue, the topic and the database secret, and imaged run
//! against them (with the test's MariaDB as the database, its user's
//! password in the stack's secret) takes an upload to its thumbnails.

use crate::common;

use std::{path::Path, process::Command};

use common::{
    aws::{Services, create_database, schema_of, unique},
    embedded_settings, jpeg, spawn,
};
use imaged::config::{NotifyBackend, QueueBackend, StorageBackend};
use serde_json::Value;
use sqlx::{Connection, MySqlConnection};

const TEMPLATE: &str = "deploy/cloudformation/imaged.yaml";

fn check_stack() -> Command {
    let mut command = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-stack"));
    command.env("AWS_REGION", "us-east-1").env_remove("AWS_ENDPOINT_URL");
    command
}

#[test]
fn cfn_lint_finds_a_reference_to_a_resource_the_template_lacks() {
    let template = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(TEMPLATE)).unwrap();
    let reference = "TargetGroupArn: !Ref TargetGroup";
    assert!(template.contains(reference), "the listener forwards to the target group");
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, template.replace(reference, "TargetGroupArn: !Ref NoSuchTargetGroup")).unwrap();

    let good = check_stack().arg("--lint-only").output().unwrap();
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    let bad = check_stack().arg("--lint-only").arg("--template").arg(&broken).output().unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("NoSuchTargetGroup"), "{stderr}");
}

#[actix_web::test]
async fn imaged_runs_on_what_the_stack_made_in_moto() {
    let services = Services::shared();
    let deployed = check_stack().env("AWS_ENDPOINT_URL", &services.moto_url).output().unwrap();
    let stderr = String::from_utf8_lossy(&deployed.stderr);
    assert!(deployed.status.success(), "{stderr}");
    let outputs: Value = serde_json::from_slice(&deployed.stdout).unwrap_or_else(|err| panic!("{err}: {stderr}"));
    let output = |key: &str| outputs[key].as_str().unwrap_or_else(|| panic!("no {key} in {outputs}")).to_owned();

    // The stack's database is moto's, which serves no MySQL: the test's
    // MariaDB stands in, with a user whose password is the stack's secret.
    let sdk = imaged::aws::sdk_config(&services.aws_settings()).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret = secrets.get_secret_value().secret_id(output("DatabaseSecretArn")).send().await.unwrap();
    let secret: Value = serde_json::from_str(secret.secret_string().unwrap()).unwrap();
    let password = secret["password"].as_str().unwrap();
    let database = create_database(&unique("stack")).await;
    let name = database.rsplit('/').next().unwrap().to_owned();
    let user = format!("u{}", &name[name.len() - 8..]);
    let schema = schema_of(&database);
    let mut admin = MySqlConnection::connect(&services.mysql_url).await.unwrap();
    for sql in [
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"),
        format!("GRANT ALL PRIVILEGES ON `{name}`.* TO '{user}'@'%'"),
        format!("GRANT ALL PRIVILEGES ON `{schema}`.* TO '{user}'@'%'"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let mut s = embedded_settings(dir.path());
    s.aws = services.aws_settings();
    s.storage.backend = StorageBackend::S3;
    s.storage.bucket = output("BucketName");
    s.queue.backend = QueueBackend::Sqs;
    s.queue.url = output("QueueUrl");
    s.notify.backend = NotifyBackend::Sns;
    s.notify.topic_arn = output("TopicArn");
    let host = url::Url::parse(&services.mysql_url).unwrap();
    let url = format!("mysql://{user}@{}:{}/{name}", host.host_str().unwrap(), host.port().unwrap());
    s.database.url = url.parse().unwrap();
    s.database.password_secret = output("DatabaseSecretArn");
    s.database.schema = schema;
    let app = spawn(s).await;
    let id = app.upload_ok("stack.jpg", jpeg(640, 480)).await;
    let doc = app.finished(id).await;
    assert_eq!(doc["status"], "done", "{doc}");
    assert_eq!(doc["thumbnails"].as_array().unwrap().len(), 3, "{doc}");
    // imaged finds the dead-letter queue through the stack's redrive policy.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    sqs.send_message().queue_url(output("DeadLetterQueueUrl")).message_body("dead").send().await.unwrap();
    let stats = app.json("/api/stats").await;
    assert_eq!(stats["queue"]["dead_letters"], 1, "{stats}");
    app.stop().await;
}
