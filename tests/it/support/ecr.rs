//! The ECR stand-in (scripts/ecr-server.py): the ECR API answered from a real Distribution registry.

use super::registry::{Ecr, Oci};

/// Endpoint URL of the ECR stand-in.
pub fn endpoint() -> String {
    super::service_env("SHIPIT_TEST_ECR")
}

/// The account ID of the stand-in's registry.
pub fn account() -> String {
    super::service_env("SHIPIT_TEST_ECR_ACCOUNT")
}

/// The stand-in through the SDK (as moto's ECR is), and its registry through the Distribution API,
/// with the user and password its GetAuthorizationToken hands out.
pub fn stand_in() -> (Ecr, Oci) {
    let ecr = Ecr::new(&endpoint());
    let (host, user, password) = ecr.login();
    (ecr, Oci::new(&host, Some((user, password))))
}

/// Every call the stand-in answered so far: (operation, registryId).
pub fn calls() -> Vec<(String, Option<String>)> {
    log().into_iter().map(|(op, id, _)| (op, id)).collect()
}

/// The calls about one repository: (operation, registryId).
pub fn calls_for(repository: &str) -> Vec<(String, Option<String>)> {
    log()
        .into_iter()
        .filter(|(_, _, r)| r.as_deref() == Some(repository))
        .map(|(op, id, _)| (op, id))
        .collect()
}

fn log() -> Vec<(String, Option<String>, Option<String>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let calls: serde_json::Value = rt.block_on(async {
        reqwest::get(format!("{}/calls", endpoint()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    calls
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["operation"].as_str().unwrap().to_string(),
                c["registryId"].as_str().map(str::to_string),
                c["repositoryName"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// The failure codes of the stand-in's answers to BatchDeleteImage about `repository`.
pub fn failures_for(repository: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let calls: serde_json::Value = rt.block_on(async {
        reqwest::get(format!("{}/calls", endpoint()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["repositoryName"].as_str() == Some(repository))
        .flat_map(|c| c["failures"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}
