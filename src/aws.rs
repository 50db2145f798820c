//! AWS plumbing shared by the production backends: one SDK configuration
//! (credentials and region from the standard chain — the instance profile
//! on EC2; `aws.endpoint_url` for moto or another compatible server), the
//! database password from Secrets Manager, and the instance's public
//! hostname from EC2 instance metadata.

use std::time::Duration;

use anyhow::Context;
use aws_config::{BehaviorVersion, Region, SdkConfig, imds, timeout::TimeoutConfig};
use secrecy::SecretString;

use crate::config::AwsSettings;

/// How long the instance-metadata lookup may take before imaged decides it
/// is not on EC2.
const IMDS_TIMEOUT: Duration = Duration::from_secs(1);

pub async fn sdk_config(settings: &AwsSettings) -> SdkConfig {
    // No call may hang: an attempt gets 30 s (above SQS's 20 s long poll),
    // a call with its retries 90 s.
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(90))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
    if !settings.region.is_empty() {
        loader = loader.region(Region::new(settings.region.clone()));
    }
    if !settings.endpoint_url.is_empty() {
        loader = loader.endpoint_url(&settings.endpoint_url);
    }
    loader.load().await
}

/// S3 with path-style addressing when an endpoint is configured: moto and
/// most S3-compatible servers do not serve virtual-hosted buckets.
pub fn s3_client(sdk: &SdkConfig, settings: &AwsSettings) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(!settings.endpoint_url.is_empty())
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// One text field of a JSON secret in Secrets Manager: `password` as
/// CloudX reads its database password, `api_tokens` for imaged's own.
pub async fn secret_field(sdk: &SdkConfig, secret_id: &str, field: &str) -> anyhow::Result<SecretString> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let value = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .with_context(|| format!("reading secret {secret_id} from Secrets Manager"))?;
    let text = value.secret_string().with_context(|| format!("secret {secret_id} holds no string"))?;
    let json: serde_json::Value =
        serde_json::from_str(text).with_context(|| format!("secret {secret_id} is not a JSON object"))?;
    let value = json[field].as_str().with_context(|| format!("secret {secret_id} has no \"{field}\" key"))?;
    Ok(SecretString::from(value))
}

/// The instance's public hostname (else its public IPv4) from EC2
/// instance metadata (IMDSv2) at `endpoint`, or `None` off EC2. An empty
/// `endpoint` is the SDK's (`AWS_EC2_METADATA_SERVICE_ENDPOINT`, else
/// 169.254.169.254), which `AWS_EC2_METADATA_DISABLED=true` turns off.
/// Looked up once, at start.
pub async fn ec2_public_host(endpoint: &str) -> anyhow::Result<Option<String>> {
    let disabled = std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    if endpoint.is_empty() && disabled {
        return Ok(None);
    }
    let mut client = imds::Client::builder()
        .max_attempts(1)
        .connect_timeout(IMDS_TIMEOUT)
        .read_timeout(IMDS_TIMEOUT)
        .operation_timeout(IMDS_TIMEOUT * 2);
    if !endpoint.is_empty() {
        client = client.endpoint(endpoint).map_err(|err| anyhow::anyhow!("aws.metadata_url {endpoint:?}: {err}"))?;
    }
    let client = client.build();
    for path in ["/latest/meta-data/public-hostname", "/latest/meta-data/public-ipv4"] {
        match client.get(path).await {
            Ok(value) => {
                let host: String = value.into();
                if !host.trim().is_empty() {
                    return Ok(Some(host.trim().to_owned()));
                }
            }
            Err(err) => {
                tracing::debug!(error = %err, path, "no EC2 instance metadata");
                // Unreachable metadata will not answer the second path either.
                if matches!(err, imds::client::error::ImdsError::FailedToLoadToken(_)) {
                    return Ok(None);
                }
            }
        }
    }
    Ok(None)
}
