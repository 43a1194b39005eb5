//! What an image carries besides its layers: its provenance ([`provenance`], an in-toto
//! Statement with a SLSA provenance v1 predicate) and its SBOM ([`sbom`], CycloneDX JSON), made
//! here from what shipit knows, pure; attached to the image as OCI referrers by the publish stage
//! (`pipeline::attest`, through [`crate::registry::Client::attach`]).

pub mod provenance;
pub mod sbom;
